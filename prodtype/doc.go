// Package prodtype learns product types from the catalogue itself, with no hand-written list
// of types: Icecat-style titles name the category after the model code ("Lexmark 08A0476
// toner cartridge Original Black", "HP GW405AA mouse USB"), so the phrases that many titles
// carry in that position are the catalogue's types.
//
//	m := prodtype.Learn(docs, prodtype.Config{})
//	a := m.Classify(prodtype.Doc{Title: "Targus TBT050EU notebook case 40.6 cm (16\") Backpack Black", Brand: "Targus"})
//	// a.Type == "notebook case", a.Source == prodtype.SourceTitle
//
// # How it learns
//
//   - Units are the words that follow a number in at least half of their occurrences ("ft",
//     "cm", "ml", "x"); property words are the words of the colour attribute ("black").
//   - A title's category-position phrases are its maximal runs of lower-case words, cut at stop
//     words ("for", "with"), with units after a number and property words trimmed from their
//     ends; the first run is the category position.
//   - A phrase is a type when at least MinCount (3) titles carry it first and at least half of
//     the titles that carry it anywhere carry it first ("series" and "business day" occur
//     later). Feed-supplied types (Icecat's attr_t_product_type) count as occurrences too.
//   - A SKU's type is the feed's type when that is a known type, else its title's first known
//     run, else the supplier's device type (Icecat's attr_t_device_type: "Full-size tablet" on
//     tablets whose titles are a model name and figures), else the longest known type phrase
//     among the words of its title's first segment that names one, in any case, singular or
//     plural, or as an acronym ("UPS"; titletext.go). A device type becomes a type when
//     MinCount SKUs whose feed and title position name none carry it: accessories carry the
//     device they serve there ("Mobile phone/Smartphone" on screen protectors) and name their
//     own type in the title.
//   - A title that names no type but ends its first segment with a type's head word
//     ("... Gigabit Rackmount Switch") gives the types named so as Kinds; the tagger picks the
//     one whose centroid is nearest the SKU's vector. The tagger gives SKUs whose text names
//     nothing the type their nearest neighbours vote for (tagger/types.go).
//   - A feed's type whose SKUs' titles mostly name another type is Titled with it (the feed's
//     "Desktop Board"s are the titles' motherboards): package search names it by that head too.
//   - Accessories: a type serves another when its name qualifies the other's ("notebook case"
//     and "notebook") or when at least a fifth of its SKUs' titles name the other after "for",
//     and in both cases its median price is below half of the other's; "toner cartridge" also
//     qualifies "toner" but costs the same, so it is not toner's accessory.
//
// A stored model records the LearnerVersion that learned it; the tagger learns a model from
// an older learner again.
//
// On the Icecat catalogue (19,406 products) the model learns 429 types and types 76% of the
// products from their text (the feed's type, the category position, or a type phrase elsewhere
// in the title); the tagger's neighbour vote types most of the rest. Types that are not
// categories remain ("series" where a model family is written in lower case, "born" from "BABY
// born"); the tagger marks the incoherent ones weak (tagger/types.go), and the pool evals in
// package evals say what the rest costs.
package prodtype
