package ruletext

import (
	"fmt"
	"strconv"
)

// An Error is a mistake in ruleset text or in a rule's words, with where
// it is: File, Line and Col (from 1, in bytes) for text; Arg (from 1) for
// words; Word is the word at fault. It prints as
//
//	rules.nft:12:24: unknown match "sadr" (did you mean "saddr"?)
//	word 3: unknown match "sadr" (did you mean "saddr"?)
type Error struct {
	File      string // "" for text read from a stream without a name
	Line, Col int    // 0 for words
	Arg       int    // the word's number, from 1, for words; 0 for text
	Word      string // the word at fault; "" at the end of a line
	Msg       string // what is wrong, and what to write instead
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		file := e.File
		if file == "" {
			file = "<stdin>"
		}
		return file + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
	case e.Arg > 0:
		return "word " + strconv.Itoa(e.Arg) + ": " + e.Msg
	}
	return e.Msg
}

// Pos is where an object of a parsed ruleset came from.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	file := p.File
	if file == "" {
		file = "<stdin>"
	}
	return file + ":" + strconv.Itoa(p.Line)
}

// errAt builds an Error about token t.
func errAt(t token, format string, args ...any) *Error {
	return &Error{File: t.file, Line: t.line, Col: t.col, Arg: t.arg, Word: t.text, Msg: fmt.Sprintf(format, args...)}
}
