package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Session is a login: the hash of the bearer token a client holds, with what
// is known of the device that holds it.
type Session struct{ ent.Schema }

// Mixin of the Session.
func (Session) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").
			Unique().
			Immutable().
			Sensitive().
			Comment("SHA-256 of the bearer token."),
		field.Int("user_id").
			Immutable(),
		field.Time("created_at").
			Default(time.Now).
			Immutable(),
		field.Time("last_used_at").
			Default(time.Now),
		field.Time("expires_at"),
		field.String("user_agent").
			Default("").
			MaxLen(512),
		field.String("ip").
			Default("").
			MaxLen(64),
	}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("sessions").
			Field("organization_id").
			Unique().
			Required().
			Immutable(),
		edge.From("user", User.Type).
			Ref("sessions").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
		edge.To("connections", Connection.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
