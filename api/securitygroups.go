package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// Security groups (/v2.0/security-groups) and their rules
// (/v2.0/security-group-rules), Neutron's "security-group" extension. A
// group and each of its rules are records of their own; a group's
// security_group_rules is derived on read. Each project's default group
// is created on first need (listing a project's groups, a port that gets
// it, a group or rule made in the project) under ids derived from the
// project, so nodes doing so at once converge on the same records.

var (
	securityGroupAttrs = attrs{
		post:  []string{"name", "description", "stateful", "tags", "project_id", "tenant_id"},
		put:   []string{"name", "description", "stateful", "tags"},
		bools: []string{"stateful"},
	}
	// Rules cannot be updated (Neutron has no update for them): a PUT gets
	// the router's 405.
	securityGroupRuleAttrs = attrs{
		post: []string{"security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
			"remote_ip_prefix", "remote_group_id", "remote_address_group_id", "description", "project_id", "tenant_id"},
		check: checkRuleBody,
	}
)

// checkRuleBody turns the forms Neutron's converters accept into the
// model's: a protocol given as a number becomes its string, ports given
// as strings become numbers. remote_address_group_id (address groups,
// which bnet does not have) is dropped when null and refused otherwise:
// ignoring it would open the rule to any remote.
func checkRuleBody(in map[string]json.RawMessage) error {
	if v, ok := in["remote_address_group_id"]; ok {
		if !isNull(v) {
			return badRequest("bnet does not support address groups (remote_address_group_id)")
		}
		delete(in, "remote_address_group_id")
	}
	if v, ok := in["protocol"]; ok && !isNull(v) {
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			in["protocol"], _ = json.Marshal(n.String())
		}
	}
	for _, k := range []string{"port_range_min", "port_range_max"} {
		v, ok := in[k]
		if !ok || isNull(v) {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return &model.Error{Code: 400, Type: "SecurityGroupInvalidPortValue", Msg: "Invalid value for port " + s}
		}
		in[k] = json.RawMessage(strconv.Itoa(n))
	}
	return nil
}

func securityGroupNotFound(id string) error     { return model.SecurityGroupNotFound(id) }
func securityGroupRuleNotFound(id string) error { return model.SecurityGroupRuleNotFound(id) }

// sgGroups returns the stored groups plus the default group of each of
// projects that has none stored yet: what the store will hold once
// ensureDefaults has run, for checks made before it runs.
func (s *Server) sgGroups(projects ...string) []model.SecurityGroup {
	groups := decodeAll[model.SecurityGroup](s, model.KindSecurityGroup)
	for _, p := range projects {
		id := model.DefaultSecurityGroupID(p)
		if slices.ContainsFunc(groups, func(g model.SecurityGroup) bool { return g.ID == id }) {
			continue
		}
		g, _ := model.DefaultSecurityGroup(p, model.Now())
		groups = append(groups, g)
	}
	return groups
}

// groupRules returns the rules of group, stored or (for project's default
// group not stored yet) about to be. Only records that mention the group's id
// are decoded: checking a new rule against its siblings must not cost a
// decode of every rule of the cloud, or adding N rules one by one is
// quadratic in the cloud's rules, not only in the group's.
func (s *Server) groupRules(group, project string) []model.SecurityGroupRule {
	var out []model.SecurityGroupRule
	for _, rec := range s.st.List(model.KindSecurityGroupRule) {
		if !bytes.Contains(rec.Data, []byte(group)) {
			continue
		}
		r, err := store.Decode[model.SecurityGroupRule](rec)
		if err != nil {
			s.log.Warn("skipping undecodable record", "kind", rec.Kind, "id", rec.ID, "err", err)
			continue
		}
		if r.SecurityGroupID == group {
			out = append(out, r)
		}
	}
	if _, ok := s.st.Get(model.KindSecurityGroup, group); !ok && group == model.DefaultSecurityGroupID(project) {
		_, rules := model.DefaultSecurityGroup(project, model.Now())
		out = append(out, rules...)
	}
	return out
}

// ensureDefaults stores the default group of each of projects that has
// none yet. The rules go first and the group last: a group is never seen
// without its rules, and a write that fails half way is completed by the
// next attempt (same ids). A default rule deleted since is not brought
// back, as the group exists then. The caller holds s.mu.
func (s *Server) ensureDefaults(projects ...string) error {
	for _, p := range projects {
		id := model.DefaultSecurityGroupID(p)
		if _, ok := s.st.Get(model.KindSecurityGroup, id); ok {
			continue
		}
		g, rules := model.DefaultSecurityGroup(p, model.Now())
		for _, r := range rules {
			if _, err := s.st.Put(model.KindSecurityGroupRule, r.ID, r); err != nil {
				return err
			}
		}
		if _, err := s.st.Put(model.KindSecurityGroup, g.ID, g); err != nil {
			return err
		}
	}
	return nil
}

// ensurePortDefault stores the default group of p's project if p uses it.
// The caller holds s.mu.
func (s *Server) ensurePortDefault(p model.Port) error {
	if !slices.Contains(p.SecurityGroups, model.DefaultSecurityGroupID(p.ProjectID)) {
		return nil
	}
	return s.ensureDefaults(p.ProjectID)
}

// viewSecurityGroups returns the groups (all, or only the one with id)
// with their rules.
func (s *Server) viewSecurityGroups(only string) []model.SecurityGroup {
	groups := decodeAll[model.SecurityGroup](s, model.KindSecurityGroup)
	byGroup := map[string][]model.SecurityGroupRule{}
	for _, r := range s.viewSecurityGroupRules("") {
		byGroup[r.SecurityGroupID] = append(byGroup[r.SecurityGroupID], r)
	}
	out := make([]model.SecurityGroup, 0, len(groups))
	for _, g := range groups {
		if only != "" && g.ID != only {
			continue
		}
		g.SecurityGroupRules = byGroup[g.ID]
		if g.SecurityGroupRules == nil {
			g.SecurityGroupRules = []model.SecurityGroupRule{}
		}
		if g.Tags == nil {
			g.Tags = []string{}
		}
		out = append(out, g)
	}
	return out
}

// viewSecurityGroupRules returns the rules (all, or only the one with id)
// of groups that exist: a rule whose group is gone (deleted on another
// node meanwhile) or not arrived yet applies to nothing, as the agent
// sees it, and is not shown.
func (s *Server) viewSecurityGroupRules(only string) []model.SecurityGroupRule {
	var rules []model.SecurityGroupRule
	if only != "" {
		// One rule is one decode, not a decode of every rule: a create's
		// answer would otherwise cost as much as a list.
		if r, ok := decodeOne[model.SecurityGroupRule](s, model.KindSecurityGroupRule, only); ok {
			rules = append(rules, r)
		}
	} else {
		rules = decodeAll[model.SecurityGroupRule](s, model.KindSecurityGroupRule)
	}
	out := make([]model.SecurityGroupRule, 0, len(rules))
	for _, r := range rules {
		if only != "" && r.ID != only {
			continue
		}
		if _, ok := s.st.Get(model.KindSecurityGroup, r.SecurityGroupID); !ok {
			continue
		}
		out = append(out, r)
	}
	return out
}

// listSecurityGroups makes sure the project asked about (the project_id or
// tenant_id filter, else the admin project every unnamed request acts
// for) has its default group, as Neutron does on this request, then lists.
func (s *Server) listSecurityGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	project := model.AdminProject
	for _, k := range []string{"project_id", "tenant_id"} {
		if v := q[k]; len(v) > 0 && v[0] != "" {
			project = v[0]
			break
		}
	}
	s.mu.Lock()
	err := s.ensureDefaults(project)
	s.mu.Unlock()
	if err != nil {
		// The list is still right about every group that exists.
		s.log.Warn("creating a default security group failed", "project", project, "err", err)
	}
	list("security_groups", s.viewSecurityGroups)(w, r)
}

func (s *Server) createSecurityGroup(w http.ResponseWriter, r *http.Request) {
	in, err := readBody(r, "security_group", securityGroupAttrs, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var g model.SecurityGroup
	if err := decodeOnto(in, model.SecurityGroup{Stateful: true}, &g); err != nil {
		s.fail(w, r, err)
		return
	}
	_, nameGiven := in["name"]
	g.ID = model.NewID()
	fillProject(&g.ProjectID, &g.TenantID)
	g.CreatedAt = model.Now()
	g.UpdatedAt = g.CreatedAt
	g.RevisionNumber = 1
	if err := model.PrepareSecurityGroup(&g, nil, nameGiven); err != nil {
		s.fail(w, r, err)
		return
	}
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.ensureDefaults(g.ProjectID); err != nil {
			return err
		}
		// Rules first, as for the default group: the group never shows
		// without the egress rules Neutron gives it.
		rules := model.NewGroupRules(g, g.CreatedAt)
		for i, rule := range rules {
			if _, err := s.st.Put(model.KindSecurityGroupRule, rule.ID, rule); err != nil {
				s.deleteRules(rules[:i])
				return err
			}
		}
		if err := s.putSecurityGroup(g); err != nil {
			s.deleteRules(rules)
			return err
		}
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"security_group": s.viewSecurityGroups(g.ID)[0]})
}

// deleteRules deletes rules, undoing the writes of a request that failed
// after them. The caller holds s.mu.
func (s *Server) deleteRules(rules []model.SecurityGroupRule) {
	for _, r := range rules {
		if _, err := s.st.Delete(model.KindSecurityGroupRule, r.ID); err != nil {
			s.log.Error("undoing a security group rule write failed", "rule", r.ID, "err", err)
		}
	}
}

// putSecurityGroup stores g without its derived rules.
func (s *Server) putSecurityGroup(g model.SecurityGroup) error {
	g.SecurityGroupRules = nil
	_, err := s.st.Put(model.KindSecurityGroup, g.ID, g)
	return err
}

func (s *Server) updateSecurityGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := readBody(r, "security_group", securityGroupAttrs, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, nameGiven := in["name"]
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		old, ok := decodeOne[model.SecurityGroup](s, model.KindSecurityGroup, id)
		if !ok {
			return securityGroupNotFound(id)
		}
		var g model.SecurityGroup
		if err := decodeOnto(in, old, &g); err != nil {
			return err
		}
		if err := model.PrepareSecurityGroup(&g, &old, nameGiven); err != nil {
			return err
		}
		g.RevisionNumber = old.RevisionNumber + 1
		g.UpdatedAt = model.Now()
		return s.putSecurityGroup(g)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"security_group": s.viewSecurityGroups(id)[0]})
}

// deleteSecurityGroup refuses while a port uses the group and for a
// project's default group; otherwise the group goes with its rules and the
// rules of other groups naming it as their remote group (Neutron's
// cascade). The group is deleted last, so a failure leaves it whole: the
// rules already deleted are put back.
func (s *Server) deleteSecurityGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		g, ok := decodeOne[model.SecurityGroup](s, model.KindSecurityGroup, id)
		if !ok {
			return securityGroupNotFound(id)
		}
		if users := model.PortsUsing(decodeAll[model.Port](s, model.KindPort), id); len(users) > 0 {
			return conflict("SecurityGroupInUse", "Security Group %s in use (port %s).", id, strings.Join(users, ", "))
		}
		if g.IsDefault() {
			return conflict("SecurityGroupCannotRemoveDefault", "Removing default security group not allowed.")
		}
		var done []model.SecurityGroupRule
		undo := func() {
			for _, rule := range done {
				if _, err := s.st.Put(model.KindSecurityGroupRule, rule.ID, rule); err != nil {
					s.log.Error("restoring a security group rule failed", "rule", rule.ID, "err", err)
				}
			}
		}
		for _, rule := range decodeAll[model.SecurityGroupRule](s, model.KindSecurityGroupRule) {
			if rule.SecurityGroupID != id && (rule.RemoteGroupID == nil || *rule.RemoteGroupID != id) {
				continue
			}
			if _, err := s.st.Delete(model.KindSecurityGroupRule, rule.ID); err != nil {
				undo()
				return err
			}
			done = append(done, rule)
		}
		if _, err := s.st.Delete(model.KindSecurityGroup, id); err != nil {
			undo()
			return err
		}
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createSecurityGroupRule(w http.ResponseWriter, r *http.Request) {
	body, bulk, err := peekBulk(r, "security_group_rules")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if bulk != nil {
		s.createSecurityGroupRules(w, r, bulk)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	in, err := readBody(r, "security_group_rule", securityGroupRuleAttrs, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rule model.SecurityGroupRule
	if err := decodeOnto(in, nil, &rule); err != nil {
		s.fail(w, r, err)
		return
	}
	if rule.ProjectID == "" {
		rule.ProjectID = rule.TenantID
	}
	rule.ID = model.NewID()
	rule.CreatedAt = model.Now()
	rule.UpdatedAt = rule.CreatedAt
	rule.RevisionNumber = 1
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		// The default group of the rule's project (the one named, else
		// the group's, else admin) may be its group or its remote group
		// before it is stored.
		project := rule.ProjectID
		if g, ok := decodeOne[model.SecurityGroup](s, model.KindSecurityGroup, rule.SecurityGroupID); ok && project == "" {
			project = g.ProjectID
		}
		if project == "" {
			project = model.AdminProject
		}
		groups := s.sgGroups(project)
		if err := model.PrepareSecurityGroupRule(&rule, groups, s.groupRules(rule.SecurityGroupID, project)); err != nil {
			return err
		}
		if err := s.ensureDefaults(project); err != nil {
			return err
		}
		_, err := s.st.Put(model.KindSecurityGroupRule, rule.ID, rule)
		return err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"security_group_rule": s.viewSecurityGroupRules(rule.ID)[0]})
}

func (s *Server) deleteSecurityGroupRule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.st.Get(model.KindSecurityGroupRule, id); !ok {
			return securityGroupRuleNotFound(id)
		}
		_, err := s.st.Delete(model.KindSecurityGroupRule, id)
		return err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// peekBulk reads r's body and, when it is Neutron's bulk form
// {"<plural>": [...]}, returns the elements; otherwise the body, for the
// single-object path to read again.
func peekBulk(r *http.Request, plural string) ([]byte, []json.RawMessage, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, nil, badRequest("Failed to read the request body: %v", err)
	}
	if len(b) > maxBody {
		return nil, nil, &model.Error{Code: http.StatusRequestEntityTooLarge, Type: "HTTPRequestEntityTooLarge", Msg: "Request body too large"}
	}
	var outer map[string]json.RawMessage
	if json.Unmarshal(b, &outer) != nil {
		return b, nil, nil // readBody says what is wrong with it
	}
	raw, ok := outer[plural]
	if !ok {
		return b, nil, nil
	}
	var elems []json.RawMessage
	if len(outer) != 1 || json.Unmarshal(raw, &elems) != nil || len(elems) == 0 {
		return nil, nil, badRequest("Resource body required: expected {\"%s\": [{...}, ...]}", plural)
	}
	return nil, elems, nil
}

// createSecurityGroupRules is Neutron's bulk create: every rule is checked
// (against the stored rules and each other) before any is stored, and they
// are stored in one write, so a bad rule anywhere changes nothing and the
// agents reconcile the group once. As in Neutron, a bulk request adds to
// one group.
func (s *Server) createSecurityGroupRules(w http.ResponseWriter, r *http.Request, elems []json.RawMessage) {
	rules := make([]model.SecurityGroupRule, len(elems))
	now := model.Now()
	for i, e := range elems {
		one := *r
		wrapped, _ := json.Marshal(map[string]json.RawMessage{"security_group_rule": e})
		one.Body = io.NopCloser(bytes.NewReader(wrapped))
		in, err := readBody(&one, "security_group_rule", securityGroupRuleAttrs, false)
		if err == nil {
			err = decodeOnto(in, nil, &rules[i])
		}
		if err != nil {
			s.fail(w, r, ruleAt(i, err))
			return
		}
		rule := &rules[i]
		if rule.ProjectID == "" {
			rule.ProjectID = rule.TenantID
		}
		if rule.SecurityGroupID != rules[0].SecurityGroupID {
			s.fail(w, r, badRequest("Only allowed to update rules for one security profile at a time"))
			return
		}
		rule.ID = model.NewID()
		rule.CreatedAt = now
		rule.UpdatedAt = now
		rule.RevisionNumber = 1
	}
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		gid := rules[0].SecurityGroupID
		project := rules[0].ProjectID
		if g, ok := decodeOne[model.SecurityGroup](s, model.KindSecurityGroup, gid); ok && project == "" {
			project = g.ProjectID
		}
		if project == "" {
			project = model.AdminProject
		}
		groups, stored := s.sgGroups(project), s.groupRules(gid, project)
		// Duplicates by key: among the group's stored rules and the new
		// ones, one map instead of every pair.
		have := map[string]string{}
		for _, o := range stored {
			if o.SecurityGroupID == gid {
				have[model.RuleKey(o)] = o.ID
			}
		}
		objs := make([]store.Obj, 0, len(rules))
		for i := range rules {
			if err := model.PrepareSecurityGroupRule(&rules[i], groups, nil); err != nil {
				return ruleAt(i, err)
			}
			k := model.RuleKey(rules[i])
			if id, ok := have[k]; ok {
				return ruleAt(i, conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", id))
			}
			have[k] = rules[i].ID
			objs = append(objs, store.Obj{Kind: model.KindSecurityGroupRule, ID: rules[i].ID, Obj: rules[i]})
		}
		if err := s.ensureDefaults(project); err != nil {
			return err
		}
		_, err := s.st.PutAll(objs)
		return err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]model.SecurityGroupRule, 0, len(rules))
	for _, rule := range rules {
		out = append(out, s.viewSecurityGroupRules(rule.ID)...)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"security_group_rules": out})
}

// ruleAt names the rule of a bulk request an error is about.
func ruleAt(i int, err error) error {
	var me *model.Error
	if errors.As(err, &me) {
		c := *me
		c.Msg = fmt.Sprintf("security_group_rules[%d]: %s", i, me.Msg)
		return &c
	}
	return fmt.Errorf("security_group_rules[%d]: %w", i, err)
}
