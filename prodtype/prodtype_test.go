package prodtype_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/prodtype"
)

// A small catalogue in Icecat's style: the category follows the model code.
func smallCatalogue() []prodtype.Doc {
	var docs []prodtype.Doc
	add := func(n int, title, brand, colour string, price int64) {
		for i := 0; i < n; i++ {
			docs = append(docs, prodtype.Doc{Title: title, Brand: brand, Colour: colour, Price: price})
		}
	}
	add(4, "Lenovo ThinkPad T14 notebook 35.6 cm (14\") Black", "Lenovo", "Black", 90000)
	add(3, "HP 250 G7 notebook 39.6 cm (15.6\") Silver", "HP", "Silver", 50000)
	add(4, "Targus TBT050EU notebook case 40.6 cm (16\") Backpack Black", "Targus", "Black", 4000)
	add(3, "Lexmark 08A0476 toner cartridge Original Black 1 pc(s)", "Lexmark", "Black", 9000)
	add(3, "HP Q2612A toner cartridge Original Black", "HP", "Black", 7000)
	add(4, "HP GW405AA mouse USB Optical 1000 DPI Black", "HP", "Black", 2000)
	add(3, "ACT UTP Cat5E 2.0 m networking cable 2 m Blue", "ACT", "Blue", 300)
	add(3, "HP 2 year warranty series Black", "HP", "Black", 100)
	add(1, "Logitech MX Master 3 Wireless Mouse", "Logitech", "", 9000)
	add(1, "Dell XPS 13 laptop", "Dell", "", 120000)
	return docs
}

func TestLearnAndClassify(t *testing.T) {
	m := prodtype.Learn(smallCatalogue(), prodtype.Config{})
	for _, tc := range []struct {
		title, brand, want string
		src                prodtype.Source
	}{
		{"Lexmark X264A21G toner cartridge Original Black 1 pc(s)", "Lexmark", "toner cartridge", prodtype.SourceTitle},
		{"Targus TBB571 notebook case Sleeve case Grey", "Targus", "notebook case", prodtype.SourceTitle},
		{"Logitech MX Master 3 Wireless Mouse", "Logitech", "mouse", prodtype.SourceTitleText},
		{"ACT FB6002 networking cable 2 m Cat6a S/FTP Ivory", "ACT", "networking cable", prodtype.SourceTitle},
		{"Dell XPS 13 laptop", "Dell", "", prodtype.SourceNone}, // one title: not a type
	} {
		a := m.Classify(prodtype.Doc{Title: tc.title, Brand: tc.brand})
		require.Equal(t, tc.want, a.Type, tc.title)
		require.Equal(t, tc.src, a.Source, tc.title)
	}
	// Units and colours are not types; "2 m" makes "m" a unit.
	_, ok := m.Type("black")
	require.False(t, ok)
	require.True(t, m.IsUnit("m"))
	require.True(t, m.IsProperty("black"))
	// The case serves the notebook (a tenth of its price); the toner cartridge is a product.
	nc, ok := m.Type("notebook case")
	require.True(t, ok)
	require.Equal(t, prodtype.KindAccessory, nc.Kind)
	require.Equal(t, "notebook", nc.AccessoryOf)
	tc, ok := m.Type("toner cartridge")
	require.True(t, ok)
	require.Equal(t, prodtype.KindProduct, tc.Kind)
}

func TestFeedTypeWinsWhenKnown(t *testing.T) {
	docs := smallCatalogue()
	m := prodtype.Learn(docs, prodtype.Config{})
	a := m.Classify(prodtype.Doc{Title: "Something else entirely", Feed: "Notebook"})
	require.Equal(t, "notebook", a.Type)
	require.Equal(t, prodtype.SourceFeed, a.Source)
	a = m.Classify(prodtype.Doc{Title: "HP GW405AA mouse USB", Brand: "HP", Feed: "1"})
	require.Equal(t, "mouse", a.Type) // "1" is not a type
}

func TestEmptyCatalogue(t *testing.T) {
	m := prodtype.Learn(nil, prodtype.Config{})
	require.Equal(t, 0, m.Len())
	require.Equal(t, "", m.Classify(prodtype.Doc{Title: "HP GW405AA mouse"}).Type)
}

func FuzzClassify(f *testing.F) {
	m := prodtype.Learn(smallCatalogue(), prodtype.Config{})
	for _, s := range []string{"HP GW405AA mouse USB", "", "   ", "for for for", "a/b/c -- ---", "™®", "notebook case for notebook", "\xff\xfe"} {
		f.Add(s, "HP")
	}
	f.Fuzz(func(t *testing.T, title, brand string) {
		a := m.Classify(prodtype.Doc{Title: title, Brand: brand})
		if a.Type != "" {
			if _, ok := m.Type(a.Type); !ok {
				t.Fatalf("classified %q as %q, not a learned type", title, a.Type)
			}
			if a.Source == prodtype.SourceNone || a.Why == "" {
				t.Fatalf("type %q without source or reason", a.Type)
			}
		}
		// Learning from anything must not panic either.
		prodtype.Learn([]prodtype.Doc{{Title: title, Brand: brand}, {Title: title, Brand: brand}, {Title: title}}, prodtype.Config{})
	})
}

// The supplier's device type types the SKUs whose title names none (tablets), and only where
// it would: on accessories it names what they serve, so a device type that appears only there
// does not become a type.
func TestDeviceType(t *testing.T) {
	docs := smallCatalogue()
	for i := 0; i < 3; i++ {
		docs = append(docs,
			prodtype.Doc{Title: "Samsung Galaxy Tab S6 Lite SM-P610N 26.4 cm (10.4\") 4 GB 64 GB Grey", Brand: "Samsung", Device: "Full-size tablet"},
			prodtype.Doc{Title: "PanzerGlass 7189 screen protector Clear Samsung", Brand: "PanzerGlass", Device: "Mobile phone/Smartphone"})
	}
	m := prodtype.Learn(docs, prodtype.Config{})
	a := m.Classify(prodtype.Doc{Title: "Lenovo Tab P11 TB-J606F 27.9 cm (11\") 4 GB 128 GB", Brand: "Lenovo", Device: "Full-size tablet"})
	require.Equal(t, "full-size tablet", a.Type)
	require.Equal(t, prodtype.SourceDevice, a.Source)
	_, ok := m.Type("mobile phone/smartphone")
	require.False(t, ok, "a device type seen only on accessories that name their own type")
	a = m.Classify(prodtype.Doc{Title: "PanzerGlass 7190 screen protector Clear Samsung", Brand: "PanzerGlass", Device: "Full-size tablet"})
	require.Equal(t, "screen protector", a.Type, "the title's category position wins over the device type")
	require.Equal(t, prodtype.LearnerVersion, m.Learner())
}

// Type names in a title's words: plural, as an acronym of a name of three words, in the first
// segment rather than a longer one after a comma, and not in a "for ..." clause.
func TestTitleText(t *testing.T) {
	docs := smallCatalogue()
	add := func(n int, title string) {
		for i := 0; i < n; i++ {
			docs = append(docs, prodtype.Doc{Title: title, Brand: "APC"})
		}
	}
	add(3, "APC SUA1000 uninterruptible power supply 1000 VA")
	add(3, "APC LCD01 lcd display 10 cm")
	m := prodtype.Learn(docs, prodtype.Config{})
	for _, tc := range []struct{ title, want string }{
		{"Xerox DocuColor 242/252 Magenta Toner Cartridges", "toner cartridge"},
		{"Tripp Lite SmartPro 1kVA Line-Interactive UPS, Tower, LCD Display, USB", "uninterruptible power supply"},
		{"Tripp Lite SmartPro Tower, LCD Display, USB", "lcd display"},
		{"Kensington Sleeve for Notebook - Black", ""},
		{"Some Notebook Case Deluxe", "notebook case"},
	} {
		a := m.Classify(prodtype.Doc{Title: tc.title})
		require.Equal(t, tc.want, a.Type, tc.title)
		if tc.want != "" {
			require.Equal(t, prodtype.SourceTitleText, a.Source, tc.title)
		}
	}
	require.Contains(t, m.Classify(prodtype.Doc{Title: "Tripp Lite SmartPro UPS"}).Why, `"UPS"`)
}

// A title that names no type but ends its first segment with a type's head word gives the
// types named so, those sharing most words with the title first; the head must be the
// segment's last word ("Speaker wire" is no speaker).
func TestHeadWordKinds(t *testing.T) {
	docs := smallCatalogue()
	add := func(n int, title string) {
		for i := 0; i < n; i++ {
			docs = append(docs, prodtype.Doc{Title: title, Brand: "X"})
		}
	}
	add(3, "X N1 network switch 8 ports")
	add(3, "X K1 kvm switch 4 ports")
	add(3, "X H1 internal hard drive 500 GB")
	add(3, "X U1 usb flash drive 16 GB")
	add(3, "X S1 portable speaker 2 W")
	m := prodtype.Learn(docs, prodtype.Config{})
	a := m.Classify(prodtype.Doc{Title: "Netgear JGS516 ProSafe 16 Port Gigabit Rackmount Switch"})
	require.Equal(t, "", a.Type)
	require.ElementsMatch(t, []string{"network switch", "kvm switch"}, a.Kinds)
	a = m.Classify(prodtype.Doc{Title: "Seagate Barracuda 500GB SATA Hard Drive 3.5\""})
	require.Equal(t, []string{"internal hard drive"}, a.Kinds, "shares \"hard\" with the title")
	require.Empty(t, m.Classify(prodtype.Doc{Title: "Philips SWA2427W 100 ft 16 gauge Speaker wire"}).Kinds)
	require.ElementsMatch(t, []string{"network switch", "kvm switch"}, m.Classify(prodtype.Doc{Title: "Cisco Switch for Rackmount Servers, Black"}).Kinds,
		"the segment ends where a for-clause begins")
}

// A feed's type whose SKUs' titles mostly name another type is Titled with it: the feed's
// "Desktop Board"s are the titles' motherboards.
func TestTitled(t *testing.T) {
	docs := smallCatalogue()
	for i := 0; i < 4; i++ {
		docs = append(docs,
			prodtype.Doc{Title: fmt.Sprintf("Intel BLKDP%d motherboard LGA 775 ATX", i), Brand: "Intel", Feed: "Desktop Board"},
			prodtype.Doc{Title: fmt.Sprintf("ASUS P%d motherboard ATX", i), Brand: "ASUS"})
	}
	docs = append(docs, prodtype.Doc{Title: "Intel BOXD510MO board", Brand: "Intel", Feed: "Desktop Board"})
	m := prodtype.Learn(docs, prodtype.Config{})
	db, ok := m.Type("desktop board")
	require.True(t, ok)
	require.Equal(t, "motherboard", db.Titled)
	mo, _ := m.Type("motherboard")
	require.Equal(t, "", mo.Titled, "not a feed's type")
	nb, _ := m.Type("notebook")
	require.Equal(t, "", nb.Titled)
}
