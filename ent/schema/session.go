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
			Comment("SHA-256 of the bearer token.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("user_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Comment("When the user logged in."),
		field.Time("last_used_at").
			Default(time.Now).
			Comment("When the token was last used (to the minute)."),
		field.Time("expires_at").
			Comment("When the token stops working."),
		field.String("user_agent").
			Default("").
			MaxLen(512).
			Comment("The User-Agent of the device that logged in."),
		field.String("ip").
			Default("").
			MaxLen(64).
			Comment("The IP address the login came from.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
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
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("user", User.Type).
			Ref("sessions").
			Field("user_id").
			Unique().
			Required().
			Immutable().
			Comment("Whose session it is."),
		edge.To("connections", Connection.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A login session: the device that holds a token."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput, entgql.SkipOrderField),
	}
}
