package api

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/bnet-dev/bnet/model"
)

// taggable maps the collections with Neutron's tag sub-resource
// (/v2.0/{collection}/{id}/tags[/{tag}]) to their store kinds and not-found
// errors.
var taggable = map[string]struct {
	kind     string
	notFound func(string) error
}{
	"networks":        {model.KindNetwork, networkNotFound},
	"subnets":         {model.KindSubnet, subnetNotFound},
	"ports":           {model.KindPort, portNotFound},
	"routers":         {model.KindRouter, routerNotFound},
	"floatingips":     {model.KindFloatingIP, floatingIPNotFound},
	"security-groups": {model.KindSecurityGroup, securityGroupNotFound},
}

func (s *Server) routeTags(mux *http.ServeMux) {
	for coll := range taggable {
		base := "/v2.0/" + coll + "/{id}/tags"
		mux.HandleFunc("GET "+base, s.getTags)
		mux.HandleFunc("PUT "+base, s.replaceTags)
		mux.HandleFunc("DELETE "+base, s.clearTags)
		mux.HandleFunc("GET "+base+"/{tag}", s.hasTag)
		mux.HandleFunc("PUT "+base+"/{tag}", s.addTag)
		mux.HandleFunc("DELETE "+base+"/{tag}", s.removeTag)
	}
}

// collection is the first path element after /v2.0/.
func collection(r *http.Request) string {
	p := r.URL.Path[len("/v2.0/"):]
	for i := range len(p) {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}

// loadTags reads the tags of the object the request names.
func (s *Server) loadTags(r *http.Request) (kind, id string, obj map[string]json.RawMessage, tags []string, err error) {
	t := taggable[collection(r)]
	id = r.PathValue("id")
	rec, ok := s.st.Get(t.kind, id)
	if !ok {
		return "", "", nil, nil, t.notFound(id)
	}
	if err := json.Unmarshal(rec.Data, &obj); err != nil {
		return "", "", nil, nil, err
	}
	if raw, ok := obj["tags"]; ok {
		_ = json.Unmarshal(raw, &tags)
	}
	return t.kind, id, obj, tags, nil
}

// saveTags stores obj with new tags, a new revision and update time. The
// object is kept as the attribute map it was stored as, so tagging never
// rewrites attributes this version does not know.
func (s *Server) saveTags(kind, id string, obj map[string]json.RawMessage, tags []string) ([]string, error) {
	tags, err := model.NormalizeTags(tags)
	if err != nil {
		return nil, err
	}
	var rev int
	_ = json.Unmarshal(obj["revision_number"], &rev)
	obj["tags"], _ = json.Marshal(tags)
	obj["revision_number"], _ = json.Marshal(rev + 1)
	obj["updated_at"], _ = json.Marshal(model.Now())
	if _, err := s.st.Put(kind, id, obj); err != nil {
		return nil, err
	}
	return tags, nil
}

// editTags runs edit on the current tags under the server lock and stores
// the result; edit returns the new tags or an error.
func (s *Server) editTags(r *http.Request, edit func([]string) ([]string, error)) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind, id, obj, tags, err := s.loadTags(r)
	if err != nil {
		return nil, err
	}
	next, err := edit(tags)
	if err != nil {
		return nil, err
	}
	return s.saveTags(kind, id, obj, next)
}

func (s *Server) getTags(w http.ResponseWriter, r *http.Request) {
	_, _, _, tags, err := s.loadTags(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, 200, map[string]any{"tags": tags})
}

func (s *Server) hasTag(w http.ResponseWriter, r *http.Request) {
	_, _, _, tags, err := s.loadTags(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.Contains(tags, r.PathValue("tag")) {
		s.fail(w, r, tagNotFound(r))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func tagNotFound(r *http.Request) error {
	return notFound("TagNotFound", "Tag %s could not be found for resource %s.", r.PathValue("tag"), r.PathValue("id"))
}

func (s *Server) replaceTags(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tags *[]string `json:"tags"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil || body.Tags == nil {
		s.fail(w, r, badRequest("Invalid input: expected {\"tags\": [...]}"))
		return
	}
	tags, err := s.editTags(r, func([]string) ([]string, error) { return *body.Tags, nil })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"tags": tags})
}

func (s *Server) clearTags(w http.ResponseWriter, r *http.Request) {
	if _, err := s.editTags(r, func([]string) ([]string, error) { return nil, nil }); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) addTag(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue("tag")
	if _, err := s.editTags(r, func(t []string) ([]string, error) { return append(t, tag), nil }); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) removeTag(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue("tag")
	_, err := s.editTags(r, func(t []string) ([]string, error) {
		if !slices.Contains(t, tag) {
			return nil, tagNotFound(r)
		}
		return slices.DeleteFunc(t, func(x string) bool { return x == tag }), nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
