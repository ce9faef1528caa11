package cli

import (
	"os"
	"strings"
	"testing"
)

// Every setting is documented in README.md's configuration table, with its default.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range settings {
		row := "| `" + s.env + "` | `" + strings.ReplaceAll(redactURL(s.def), "|", `\|`) + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row %s", row)
		}
	}
}
