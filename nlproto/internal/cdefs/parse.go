// Package cdefs reads the #define and enum constants of a small C header,
// such as nflab.h, and writes them out as Go constants and name tables
// (Generate), and as C assertions through which a C compiler checks what
// it read (GenerateAsserts, CrossCheck).
//
// It understands only what a uapi protocol header needs and fails, naming
// file and line, on anything else: a constant skipped silently would be a
// protocol number that Go and C disagree on.
package cdefs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
)

// A Const is one named value from the header.
type Const struct {
	Name     string // the C name
	Line     int
	IsDefine bool // a #define; false for an enum member
	IsString bool
	Int      int64
	Str      string
}

// A Group is a run of #defines, or one enum, in header order. An enum's
// group ends with the #defines that follow it and refer to its members,
// such as "#define X_MAX (__X_MAX - 1)" (their IsDefine is set).
type Group struct {
	Enum   string // the enum's tag; empty for a run of #defines
	IsEnum bool
	Consts []Const
}

// A Header is the constants of a header, grouped as they appear.
type Header struct {
	Groups []Group
}

var (
	directiveRE = regexp.MustCompile(`^#\s*(\w+)\s*(.*)$`)
	defineRE    = regexp.MustCompile(`^([A-Za-z_]\w*)(\(?)\s*(.*)$`)
	enumRE      = regexp.MustCompile(`^enum(?:\s+([A-Za-z_]\w*))?\s*\{(.*)$`)
	entryRE     = regexp.MustCompile(`^([A-Za-z_]\w*)\s*(?:=\s*(.+))?$`)
	intSuffixRE = regexp.MustCompile(`\b(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]+\b`)
)

type parseState struct {
	file   string
	h      *Header
	ints   map[string]int64
	lines  map[string]int // where each name was first defined
	enum   *Group         // the enum being read, if any
	enumAt int
	next   int64 // the value of the next implicit enum entry
	// last is the enum group just closed, so that "#define X_MAX
	// (__X_MAX - 1)" right after it joins its block.
	last *Group
}

// Parse reads the constants of src, a C header named file (used in errors).
func Parse(file string, src []byte) (*Header, error) {
	text, err := stripComments(file, string(src))
	if err != nil {
		return nil, err
	}
	p := &parseState{
		file:  file,
		h:     &Header{},
		ints:  make(map[string]int64),
		lines: make(map[string]int),
	}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		lineno := i + 1
		line := strings.TrimSpace(lines[i])
		// Join continuation lines; errors name the first.
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSpace(strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i]))
		}
		if err := p.line(lineno, line); err != nil {
			return nil, err
		}
	}
	if p.enum != nil {
		return nil, p.errorf(p.enumAt, "enum %s is never closed", p.enum.Enum)
	}
	return p.h, nil
}

func (p *parseState) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, line, fmt.Sprintf(format, args...))
}

func (p *parseState) line(lineno int, line string) error {
	if p.enum != nil {
		return p.enumLine(lineno, line)
	}
	switch {
	case line == "":
		return nil
	case strings.HasPrefix(line, "#"):
		return p.directive(lineno, line)
	}
	if m := enumRE.FindStringSubmatch(line); m != nil {
		p.h.Groups = append(p.h.Groups, Group{Enum: m[1], IsEnum: true})
		p.enum = &p.h.Groups[len(p.h.Groups)-1]
		p.enumAt = lineno
		p.next = 0
		p.last = nil
		return p.enumLine(lineno, m[2])
	}
	return p.errorf(lineno, "unsupported declaration %q (the generator knows only #define and enum)", line)
}

func (p *parseState) directive(lineno int, line string) error {
	m := directiveRE.FindStringSubmatch(line)
	if m == nil {
		return p.errorf(lineno, "malformed directive %q", line)
	}
	switch m[1] {
	case "define":
		return p.define(lineno, m[2])
	case "ifndef", "endif", "include":
		// The include guard and includes carry no constants.
		return nil
	}
	return p.errorf(lineno, "unsupported directive #%s (conditional code would make the Go constants ambiguous)", m[1])
}

func (p *parseState) define(lineno int, rest string) error {
	m := defineRE.FindStringSubmatch(rest)
	if m == nil {
		return p.errorf(lineno, "malformed #define %q", rest)
	}
	name, funcLike, value := m[1], m[2] != "", strings.TrimSpace(m[3])
	if funcLike {
		return p.errorf(lineno, "function-like macro %s is not supported", name)
	}
	if value == "" {
		// A flag macro such as the include guard: no value to carry over.
		return nil
	}
	if err := p.declare(lineno, name); err != nil {
		return err
	}
	c := Const{Name: name, Line: lineno, IsDefine: true}
	var refs []string
	if strings.HasPrefix(value, `"`) {
		s, err := strconv.Unquote(value)
		if err != nil {
			return p.errorf(lineno, "#define %s: unsupported string literal %s", name, value)
		}
		c.IsString, c.Str = true, s
	} else {
		v, r, err := p.eval(value)
		if err != nil {
			return p.errorf(lineno, "#define %s: %v", name, err)
		}
		c.Int, refs = v, r
		p.ints[name] = v
	}

	// "#define X_MAX (__X_MAX - 1)" belongs with the enum it measures.
	if p.last != nil && refersTo(p.last, refs) {
		p.last.Consts = append(p.last.Consts, c)
		return nil
	}
	p.last = nil
	n := len(p.h.Groups)
	if n == 0 || p.h.Groups[n-1].IsEnum {
		p.h.Groups = append(p.h.Groups, Group{})
		n++
	}
	p.h.Groups[n-1].Consts = append(p.h.Groups[n-1].Consts, c)
	return nil
}

func refersTo(g *Group, refs []string) bool {
	for _, r := range refs {
		for _, c := range g.Consts {
			if c.Name == r {
				return true
			}
		}
	}
	return false
}

func (p *parseState) enumLine(lineno int, line string) error {
	body, closed := line, false
	if i := strings.Index(line, "}"); i >= 0 {
		body, closed = line[:i], true
		if tail := strings.TrimSpace(line[i+1:]); tail != ";" {
			return p.errorf(lineno, "unsupported text %q after enum body (want \"};\")", tail)
		}
	}
	for _, entry := range strings.Split(body, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if err := p.enumEntry(lineno, entry); err != nil {
			return err
		}
	}
	if closed {
		p.last, p.enum = p.enum, nil
	}
	return nil
}

func (p *parseState) enumEntry(lineno int, entry string) error {
	m := entryRE.FindStringSubmatch(entry)
	if m == nil {
		return p.errorf(lineno, "unsupported enum entry %q", entry)
	}
	name := m[1]
	if err := p.declare(lineno, name); err != nil {
		return err
	}
	v := p.next
	if m[2] != "" {
		var err error
		if v, _, err = p.eval(m[2]); err != nil {
			return p.errorf(lineno, "%s: %v", name, err)
		}
	}
	p.ints[name] = v
	p.next = v + 1
	p.enum.Consts = append(p.enum.Consts, Const{Name: name, Line: lineno, Int: v})
	return nil
}

func (p *parseState) declare(lineno int, name string) error {
	if first, ok := p.lines[name]; ok {
		return p.errorf(lineno, "%s redefined (first defined at line %d)", name, first)
	}
	p.lines[name] = lineno
	return nil
}

// eval computes a C integer constant expression: literals, earlier
// constants, parentheses and the usual arithmetic and bit operators.
// It returns the names the expression refers to.
func (p *parseState) eval(expr string) (int64, []string, error) {
	// C's integer suffixes and "~" have Go spellings the Go parser knows.
	goExpr := intSuffixRE.ReplaceAllString(expr, "$1")
	goExpr = strings.ReplaceAll(goExpr, "~", "^")
	x, err := parser.ParseExpr(goExpr)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot parse value %q", expr)
	}
	var refs []string
	v, err := p.evalNode(x, &refs)
	if err != nil {
		return 0, nil, fmt.Errorf("value %q: %v", expr, err)
	}
	return v, refs, nil
}

func (p *parseState) evalNode(n ast.Expr, refs *[]string) (int64, error) {
	switch n := n.(type) {
	case *ast.BasicLit:
		if n.Kind != token.INT {
			return 0, fmt.Errorf("unsupported literal %s", n.Value)
		}
		return strconv.ParseInt(n.Value, 0, 64)
	case *ast.Ident:
		v, ok := p.ints[n.Name]
		if !ok {
			return 0, fmt.Errorf("unknown integer constant %s", n.Name)
		}
		*refs = append(*refs, n.Name)
		return v, nil
	case *ast.ParenExpr:
		return p.evalNode(n.X, refs)
	case *ast.UnaryExpr:
		x, err := p.evalNode(n.X, refs)
		if err != nil {
			return 0, err
		}
		switch n.Op {
		case token.SUB:
			return -x, nil
		case token.ADD:
			return x, nil
		case token.XOR:
			return ^x, nil
		}
	case *ast.BinaryExpr:
		x, err := p.evalNode(n.X, refs)
		if err != nil {
			return 0, err
		}
		y, err := p.evalNode(n.Y, refs)
		if err != nil {
			return 0, err
		}
		switch n.Op {
		case token.ADD:
			return x + y, nil
		case token.SUB:
			return x - y, nil
		case token.MUL:
			return x * y, nil
		case token.QUO, token.REM:
			if y == 0 {
				return 0, fmt.Errorf("division by zero")
			}
			if n.Op == token.QUO {
				return x / y, nil
			}
			return x % y, nil
		case token.OR:
			return x | y, nil
		case token.AND:
			return x & y, nil
		case token.XOR:
			return x ^ y, nil
		case token.SHL, token.SHR:
			if y < 0 || y > 63 {
				return 0, fmt.Errorf("shift count %d out of range", y)
			}
			if n.Op == token.SHL {
				return x << y, nil
			}
			return x >> y, nil
		}
	}
	return 0, fmt.Errorf("unsupported expression")
}

// stripComments blanks out C comments, keeping newlines so that line
// numbers stay right, and leaves string literals alone.
func stripComments(file, src string) (string, error) {
	b := []byte(src)
	line := 1
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\n':
			line++
		case b[i] == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				} else if b[i] == '\n' {
					return "", fmt.Errorf("%s:%d: unterminated string literal", file, line)
				}
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
			i-- // let the newline be counted
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			start := line
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return "", fmt.Errorf("%s:%d: unterminated comment", file, start)
			}
			end += i + 4
			for ; i < end; i++ {
				if b[i] == '\n' {
					line++
				} else {
					b[i] = ' '
				}
			}
			i--
		}
	}
	return string(b), nil
}
