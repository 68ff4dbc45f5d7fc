package access

import (
	"context"

	"roster/ent"
	"roster/internal/viewer"
)

// Filters through edges reach users the privacy rules of user queries never
// see: `divisions(where: {hasMembersWith: [{email: …}]})` would tell a
// viewer scoped to their divisions whether a hidden user exists. These
// functions rewrite a client's filter so that every user it looks at
// through an edge is one the viewer may see. For other viewers they return
// the filter as it is.

// ScopeUserWhere rewrites a filter of users.
func ScopeUserWhere(ctx context.Context, w *ent.UserWhereInput) *ent.UserWhereInput {
	if s := newScope(ctx); s != nil {
		s.user(w)
	}
	return w
}

// ScopeRoleWhere rewrites a filter of roles.
func ScopeRoleWhere(ctx context.Context, w *ent.RoleWhereInput) *ent.RoleWhereInput {
	if s := newScope(ctx); s != nil {
		s.role(w)
	}
	return w
}

// ScopeDivisionWhere rewrites a filter of divisions.
func ScopeDivisionWhere(ctx context.Context, w *ent.DivisionWhereInput) *ent.DivisionWhereInput {
	if s := newScope(ctx); s != nil {
		s.division(w)
	}
	return w
}

// ScopeChannelWhere rewrites a filter of channels.
func ScopeChannelWhere(ctx context.Context, w *ent.ChannelWhereInput) *ent.ChannelWhereInput {
	if s := newScope(ctx); s != nil {
		s.channel(w)
	}
	return w
}

// scope holds the filter of the users a division-scoped viewer may see:
// themselves and whoever shares a division with them.
type scope struct{ visible *ent.UserWhereInput }

func newScope(ctx context.Context) *scope {
	v := viewer.FromContext(ctx)
	if v == nil || !v.DivisionScoped {
		return nil
	}
	id := v.UserID
	return &scope{visible: &ent.UserWhereInput{Or: []*ent.UserWhereInput{
		{ID: &id},
		{HasDivisionsWith: []*ent.DivisionWhereInput{{HasMembersWith: []*ent.UserWhereInput{{ID: &id}}}}},
	}}}
}

// users confines each filter of users reached through an edge.
func (s *scope) users(ws []*ent.UserWhereInput) {
	for i, w := range ws {
		s.user(w)
		ws[i] = &ent.UserWhereInput{And: []*ent.UserWhereInput{w, s.visible}}
	}
}

// hasVisible rewrites a "has any user" flag: true becomes "has a user the
// viewer may see", false "has none the viewer may see". It returns the
// condition to add, if any, having cleared the flag.
func hasVisible[W any](flag **bool, some, none func() W) (W, bool) {
	var zero W
	if *flag == nil {
		return zero, false
	}
	b := **flag
	*flag = nil
	if b {
		return some(), true
	}
	return none(), true
}

func (s *scope) user(w *ent.UserWhereInput) {
	if w == nil {
		return
	}
	s.user(w.Not)
	for _, x := range append(append([]*ent.UserWhereInput{}, w.And...), w.Or...) {
		s.user(x)
	}
	for _, r := range w.HasRoleWith {
		s.role(r)
	}
	for _, d := range w.HasDivisionsWith {
		s.division(d)
	}
}

func (s *scope) role(w *ent.RoleWhereInput) {
	if w == nil {
		return
	}
	s.role(w.Not)
	for _, x := range append(append([]*ent.RoleWhereInput{}, w.And...), w.Or...) {
		s.role(x)
	}
	s.users(w.HasUsersWith)
	some := func() *ent.RoleWhereInput { return &ent.RoleWhereInput{HasUsersWith: []*ent.UserWhereInput{s.visible}} }
	if cond, ok := hasVisible(&w.HasUsers, some, func() *ent.RoleWhereInput { return &ent.RoleWhereInput{Not: some()} }); ok {
		w.And = append(w.And, cond)
	}
}

func (s *scope) division(w *ent.DivisionWhereInput) {
	if w == nil {
		return
	}
	s.division(w.Not)
	for _, x := range append(append([]*ent.DivisionWhereInput{}, w.And...), w.Or...) {
		s.division(x)
	}
	s.users(w.HasMembersWith)
	some := func() *ent.DivisionWhereInput {
		return &ent.DivisionWhereInput{HasMembersWith: []*ent.UserWhereInput{s.visible}}
	}
	if cond, ok := hasVisible(&w.HasMembers, some, func() *ent.DivisionWhereInput { return &ent.DivisionWhereInput{Not: some()} }); ok {
		w.And = append(w.And, cond)
	}
	for _, c := range w.HasChannelsWith {
		s.channel(c)
	}
}

func (s *scope) channel(w *ent.ChannelWhereInput) {
	if w == nil {
		return
	}
	s.channel(w.Not)
	for _, x := range append(append([]*ent.ChannelWhereInput{}, w.And...), w.Or...) {
		s.channel(x)
	}
	for _, d := range w.HasDivisionsWith {
		s.division(d)
	}
}
