package words_test

import (
	"testing"

	"github.com/mictl/mictl/pkg/words"
)

func TestAgreeWithCount(t *testing.T) {
	tests := []struct{ got, want string }{
		{words.Count(0, "conflict"), "0 conflicts"},
		{words.Count(1, "conflict"), "1 conflict"},
		{words.Count(2, "host socket"), "2 host sockets"},
		{words.ItOrThem(1), "it"},
		{words.ItOrThem(2), "them"},
		{words.WasOrWere(1), "was"},
		{words.WasOrWere(0), "were"},
		{words.Noun(1, "server"), "server"},
		{words.Noun(2, "server"), "servers"},
		{words.Verb(1, "keep"), "keeps"},
		{words.Verb(3, "keep"), "keep"},
		{words.IsOrAre(1), "is"},
		{words.IsOrAre(2), "are"},
		{words.ItsOrTheir(1), "its"},
		{words.ItsOrTheir(2), "their"},
		{words.And(nil), ""},
		{words.And([]string{"mi-1"}), "mi-1"},
		{words.And([]string{"mi-1", "mi-2"}), "mi-1 and mi-2"},
		{words.And([]string{"mi-1", "mi-2", "mi-3"}), "mi-1, mi-2 and mi-3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
