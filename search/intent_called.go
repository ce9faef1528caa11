package search

import (
	"strings"

	"selection/lexical"
)

// Other names of types: what planners call a type the catalogue names otherwise. Two sources,
// both read from data rather than written by hand: the judged queries (Aliases: "laptop" means
// notebook) and the catalogue's own acronyms ("ups" for "uninterruptible power supply", "ssd"
// for "internal solid state drive": the initials of a type name's last three words or more,
// when its SKUs use them).

// acronymMinWords is how many words of a type name's end an acronym stands for, at least;
// acronymMinShare the share of the type's SKUs whose text must use it.
const (
	acronymMinWords = 3
	acronymMinShare = 0.1
)

// called returns the types a query word (its stem) calls by another name than the
// catalogue's: the judged queries' aliases, else the types whose name it is the acronym of.
func (in *Intents) called(ev *evidence, tab *typeTable, stem string) []learnedType {
	if lts, ok := ev.called[stem]; ok {
		return lts
	}
	if ev.called == nil {
		ev.called = map[string][]learnedType{}
	}
	lts := in.calledOnce(ev, tab, stem)
	ev.called[stem] = lts
	return lts
}

func (in *Intents) calledOnce(ev *evidence, tab *typeTable, stem string) []learnedType {
	if lts := in.aliases.typesOf(stem, in.types.TypeOfSKU); len(lts) > 0 {
		return lts
	}
	word := ev.surfaceOf(stem)
	var out []learnedType
	for _, a := range []string{word, strings.TrimSuffix(word, "s")} {
		for _, name := range tab.acronyms[a] {
			if in.mentioning(ev, []string{name}, []string{a}) >= acronymMinShare {
				out = append(out, learnedType{name: name, share: 1, acronym: true})
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// kindWord reports whether a query word (its stem) calls some type by another name: like a
// word of a type's name, it names a kind (classOf's kindWord).
func (in *Intents) kindWord(ev *evidence, tab *typeTable) func(string) bool {
	return func(stem string) bool { return len(in.called(ev, tab, stem)) > 0 }
}

// addAcronyms records the acronyms of a type's name: the initials of its last three words or
// more ("uninterruptible power supply": ups; "internal solid state drive": issd and ssd). A
// name with alternatives ("headphones/headset") has none.
func (tab *typeTable) addAcronyms(name string) {
	if strings.Contains(name, "/") {
		return
	}
	if tab.acronyms == nil {
		tab.acronyms = map[string][]string{}
	}
	words := strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == '-' })
	for start := 0; start+acronymMinWords <= len(words); start++ {
		var b strings.Builder
		for _, w := range words[start:] {
			b.WriteString(w[:1])
		}
		a := b.String()
		tab.acronyms[a] = append(tab.acronyms[a], name)
	}
}

// surfaces maps the stems of a text's words to the words as written, lower case.
func surfaces(text string) map[string]string {
	out := map[string]string{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return r == ' ' || r == ',' }) {
		if st := lexical.Analyze(w); len(st) == 1 {
			out[st[0]] = w
		}
	}
	return out
}

// surfaceOf is a stem of the query as written (the stem itself when unknown).
func (ev *evidence) surfaceOf(stem string) string {
	if w, ok := ev.surface[stem]; ok {
		return w
	}
	return stem
}
