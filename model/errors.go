package model

import "fmt"

// Error is a rule violation in Neutron's terms: the HTTP status Neutron
// answers with, its exception name (NeutronError.type) and a message an
// operator can act on. The API layer turns it into the response unchanged.
type Error struct {
	Code int    // 400, 404 or 409
	Type string // e.g. "InvalidInput", "MacAddressInUse"
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(format string, a ...any) *Error {
	return &Error{Code: 400, Type: "InvalidInput", Msg: "Invalid input for operation: " + fmt.Sprintf(format, a...)}
}

func conflict(typ, format string, a ...any) *Error {
	return &Error{Code: 409, Type: typ, Msg: fmt.Sprintf(format, a...)}
}

func notFound(typ, format string, a ...any) *Error {
	return &Error{Code: 404, Type: typ, Msg: fmt.Sprintf(format, a...)}
}
