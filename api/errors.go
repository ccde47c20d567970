package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/bnet-dev/bnet/model"
)

// neutronError is Neutron's error body.
type neutronError struct {
	NeutronError struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"NeutronError"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	var body neutronError
	body.NeutronError.Type = typ
	body.NeutronError.Message = msg
	writeJSON(w, code, body)
}

// fail answers err: a *model.Error as it says, anything else as a 500 (the
// store failed to persist, which the client cannot fix).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var me *model.Error
	if errors.As(err, &me) {
		writeError(w, me.Code, me.Type, me.Msg)
		return
	}
	s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "InternalError", fmt.Sprintf("Request failed: %v", err))
}

func badRequest(format string, a ...any) *model.Error {
	return &model.Error{Code: 400, Type: "HTTPBadRequest", Msg: fmt.Sprintf(format, a...)}
}

func notFound(typ, format string, a ...any) *model.Error {
	return &model.Error{Code: 404, Type: typ, Msg: fmt.Sprintf(format, a...)}
}

func conflict(typ, format string, a ...any) *model.Error {
	return &model.Error{Code: 409, Type: typ, Msg: fmt.Sprintf(format, a...)}
}
