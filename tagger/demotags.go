package tagger

import "selection/filter"

// DemoTags are the tags `selection demo` defines on its first run: rule tags over the
// generated marketplace facts, a rule tag over the titles' words (gaming), and prototype tags
// from plain-language descriptions (their thresholds are calibrated). The tagging evals
// measure the title-based ones against labels the catalogue's titles carry
// (evals/testdata/tags/demo_tags.json).
func DemoTags() []TagDef {
	return []TagDef{
		{Name: "deal", Kind: KindRule, Description: "at least 20% below list price",
			Definition: Definition{Rule: ptr(filter.AtLeast("discount", 20))}},
		{Name: "premium", Kind: KindRule, Description: "priced at US$500 or more",
			Definition: Definition{Rule: ptr(filter.AtLeast("price", 50000))}},
		{Name: "low-stock", Kind: KindRule, Description: "1 to 5 units left",
			Definition: Definition{Rule: ptr(filter.Range("stock", 1, 5))}},
		// USE-Lite puts every mouse as near "gaming mouse" as the gaming ones (a prototype
		// tag held every mouse, keyboard and headset: precision 0.01), so gaming gear is what
		// its titles say it is.
		{Name: "gaming", Kind: KindRule, Description: "gaming gear: what its title says is for gaming, consoles and video games",
			Definition: Definition{Words: []string{"gaming", "gamer", "game console", "video game", "gamepad", "joystick", "playstation", "xbox", "nintendo"}}},
		{Name: "printing-supplies", Kind: KindPrototype, Description: "toner, ink and printer paper",
			Definition: Definition{Descriptions: []string{"toner cartridge", "ink cartridge", "photo paper for printers"}}},
		{Name: "storage", Kind: KindPrototype, Description: "drives and memory",
			Definition: Definition{Descriptions: []string{"usb flash drive", "portable external hard drive for backup", "memory card"}}},
		{Name: "audio", Kind: KindPrototype, Description: "headphones and speakers",
			Definition: Definition{Descriptions: []string{"headphones", "bluetooth speaker", "earphones"}}},
		{Name: "networking", Kind: KindPrototype, Description: "routers, switches, adapters",
			Definition: Definition{Descriptions: []string{"wireless router", "network switch", "ethernet adapter", "networking card", "wireless access point"}}},
	}
}

func ptr[T any](v T) *T { return &v }
