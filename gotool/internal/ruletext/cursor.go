package ruletext

import (
	"slices"
	"strings"
)

// cursor walks one statement's tokens.
type cursor struct {
	toks []token
	i    int
	end  token // where "at the end of the line" errors point
}

func newCursor(toks []token) *cursor {
	c := &cursor{toks: toks}
	if n := len(toks); n > 0 {
		last := toks[n-1]
		c.end = token{file: last.file, line: last.line, col: last.col + len(last.text), arg: last.arg}
		if last.quoted {
			c.end.col += 2
		}
		if last.arg > 0 {
			c.end.arg = last.arg + 1
		}
	}
	return c
}

func (c *cursor) done() bool { return c.i >= len(c.toks) }

// peek returns the next token without taking it; ok is false at the end.
func (c *cursor) peek() (token, bool) {
	if c.done() {
		return c.end, false
	}
	return c.toks[c.i], true
}

// peekIs reports whether the next token is the keyword kw.
func (c *cursor) peekIs(kw string) bool {
	t, ok := c.peek()
	return ok && t.is(kw)
}

// accept takes the next token if it is the keyword kw.
func (c *cursor) accept(kw string) bool {
	if c.peekIs(kw) {
		c.i++
		return true
	}
	return false
}

// take returns the next token; what names what was expected, for the
// error at the end of the line.
func (c *cursor) take(what string) (token, error) {
	t, ok := c.peek()
	if !ok {
		return t, errAt(t, "missing %s at the end of the line", what)
	}
	c.i++
	return t, nil
}

// word takes the next token, which must not be one of "{", "}" or ",".
func (c *cursor) word(what string) (token, error) {
	t, err := c.take(what)
	if err != nil {
		return t, err
	}
	if !t.quoted && (t.text == "{" || t.text == "}" || t.text == ",") {
		return t, errAt(t, "want %s, not %q", what, t.text)
	}
	return t, nil
}

// keyword takes the next token, which must be one of kws.
func (c *cursor) keyword(what string, kws ...string) (token, error) {
	t, err := c.take(what)
	if err != nil {
		return t, err
	}
	if t.quoted || !slices.Contains(kws, t.text) {
		return t, unknown(t, what, kws)
	}
	return t, nil
}

// list takes a list of items: a single word, words separated by commas
// ("a,b,c"), or a brace group ("{ a, b, c }", which may span lines).
func (c *cursor) list(what string) ([]token, error) {
	braced := c.accept("{")
	var items []token
	for {
		t, err := c.word(what)
		if err != nil {
			if braced && t.is("}") && len(items) > 0 {
				return items, nil // a trailing comma
			}
			return nil, err
		}
		items = append(items, t)
		if c.accept(",") {
			continue
		}
		if braced {
			if _, err := c.keyword(`"," or "}"`, "}"); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
}

// unknown is the error for a word that is none of those expected, with a
// suggestion when one is close.
func unknown(t token, what string, want []string) *Error {
	if t.text == "" && !t.quoted {
		return errAt(t, "missing %s", what)
	}
	if s := suggest(t.text, want); s != "" {
		return errAt(t, "unknown %s %q (did you mean %q?)", what, t.text, s)
	}
	if len(want) <= 8 {
		return errAt(t, "unknown %s %q; want %s", what, t.text, orList(want))
	}
	return errAt(t, "unknown %s %q", what, t.text)
}

// suggest returns the word of want closest to s, if it is close enough to
// be a typo.
func suggest(s string, want []string) string {
	best, bestD := "", 3
	for _, w := range want {
		d := distance(strings.ToLower(s), w)
		if d < bestD || (d == bestD && best == "") {
			if d <= max(1, len(w)/3) {
				best, bestD = w, d
			}
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, transpositions counted
// as one edit.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// orList writes "a, b, c or d".
func orList(s []string) string {
	q := make([]string, len(s))
	for i, w := range s {
		q[i] = `"` + w + `"`
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
