package ruletext

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The lexer: the text is a sequence of statements, one a line, except
// that a brace group ({ ... }) may span lines. A statement is a sequence
// of words separated by blanks; "{", "}" and "," are words of their own
// wherever they appear outside quotes; "#" outside quotes starts a comment
// that runs to the end of the line; a word in double quotes may hold
// blanks and the escapes \" \\ \n \t and \xHH.

// token is one word and where it is.
type token struct {
	text   string
	quoted bool // written in quotes: never a keyword
	file   string
	line   int
	col    int
	arg    int // for words from a command line: its number, from 1
}

// is reports whether t is the unquoted keyword kw.
func (t token) is(kw string) bool { return !t.quoted && t.text == kw }

// lexer reads the words of a text line by line.
type lexer struct {
	sc   *bufio.Scanner
	file string
	line int
	toks []token // reused for each line
}

func newLexer(r io.Reader, file string) *lexer {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	return &lexer{sc: sc, file: file}
}

// nextLine returns the words of the next line that has any, and the
// brace depth after them given depth before; ok is false at the end of
// the input. The slice is reused by the next call.
func (l *lexer) nextLine(depth int) (toks []token, after int, ok bool, err error) {
	for {
		if !l.sc.Scan() {
			if err := l.sc.Err(); err != nil {
				return nil, depth, false, &Error{File: l.file, Line: l.line + 1, Col: 1, Msg: "reading: " + err.Error()}
			}
			return nil, depth, false, nil
		}
		l.line++
		l.toks, after, err = lexLine(l.toks[:0], l.sc.Text(), l.file, l.line, depth)
		if err != nil {
			return nil, depth, false, err
		}
		if len(l.toks) > 0 {
			return l.toks, after, true, nil
		}
	}
}

// lexLine appends the words of one line to toks. depth is how many brace
// groups are open before and after it.
func lexLine(toks []token, s, file string, line, depth int) ([]token, int, error) {
	if !utf8.ValidString(s) {
		return toks, depth, &Error{File: file, Line: line, Col: 1, Msg: "the line is not valid UTF-8"}
	}
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			return toks, depth, nil
		case c == '{' || c == '}' || c == ',':
			if c == '{' {
				depth++
			} else if c == '}' {
				if depth == 0 {
					return toks, depth, &Error{File: file, Line: line, Col: i + 1, Word: "}", Msg: `"}" without "{"`}
				}
				depth--
			}
			toks = append(toks, token{text: s[i : i+1], file: file, line: line, col: i + 1})
			i++
		case c == '"':
			text, n, err := unquote(s[i:])
			if err != "" {
				return toks, depth, &Error{File: file, Line: line, Col: i + 1 + n, Word: s[i:], Msg: err}
			}
			toks = append(toks, token{text: text, quoted: true, file: file, line: line, col: i + 1})
			i += n
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r#{},\"", rune(s[j])) {
				j++
			}
			toks = append(toks, token{text: s[i:j], file: file, line: line, col: i + 1})
			i = j
		}
	}
	return toks, depth, nil
}

// unquote reads the quoted string s starts with: its text and length, or
// a reason and the offset of the fault.
func unquote(s string) (string, int, string) {
	var b []byte
	simple := true
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			if simple {
				return s[1:i], i + 1, ""
			}
			return string(b), i + 1, ""
		case '\\':
			if simple {
				b, simple = append(b, s[1:i]...), false
			}
			if i+1 >= len(s) {
				return "", i, `"\" at the end of the line; write \\ for a backslash`
			}
			i++
			switch s[i] {
			case '"', '\\':
				b = append(b, s[i])
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			case 'x':
				if i+2 >= len(s) {
					return "", i - 1, `\x needs two hex digits, such as \x00`
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", i - 1, `\x needs two hex digits, such as \x00`
				}
				b = append(b, byte(v))
				i += 2
			default:
				return "", i - 1, `unknown escape \` + string(s[i]) + `; want \" \\ \n \t or \xHH`
			}
		default:
			if !simple {
				b = append(b, c)
			}
		}
	}
	return "", 0, "unterminated string: a quoted string ends with \" on the same line"
}

// quote writes s in quotes, escaping what unquote reads back: quotes,
// backslashes and every byte that is not printable ASCII.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wordTokens turns a rule's words from a command line into tokens: each
// word is lexed as a line of text (so "established,related" and
// "{ 80, 443 }" work in one word or in many), except that the word after
// "comment", "prefix" or "string" is taken as it is, as if quoted.
func wordTokens(words []string) ([]token, error) {
	var toks []token
	depth := 0
	for i, w := range words {
		if n := len(toks); n > 0 && !toks[n-1].quoted &&
			(toks[n-1].text == "comment" || toks[n-1].text == "prefix" || toks[n-1].text == "string") &&
			!strings.HasPrefix(w, `"`) {
			toks = append(toks, token{text: w, quoted: true, arg: i + 1})
			continue
		}
		start := len(toks)
		var err error
		toks, depth, err = lexLine(toks, w, "", 0, depth)
		if err != nil {
			e := err.(*Error)
			return nil, &Error{Arg: i + 1, Word: w, Msg: e.Msg}
		}
		for j := start; j < len(toks); j++ {
			toks[j].line, toks[j].col, toks[j].arg = 0, 0, i+1
		}
	}
	return toks, nil
}
