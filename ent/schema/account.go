package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Invitation is the single-use link an invited user sets their password
// with. Only the hash of its token is kept.
type Invitation struct{ ent.Schema }

// Mixin of the Invitation.
func (Invitation) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the Invitation.
func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Bytes("token_hash").Unique().Immutable().Sensitive(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable(),
	}
}

// Edges of the Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("invitations").Field("organization_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).Ref("invitations").Field("user_id").Unique().Required().Immutable(),
	}
}

// Annotations of the Invitation.
func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// PasswordReset is the single-use link a user who forgot their password
// sets a new one with. Only the hash of its token is kept.
type PasswordReset struct{ ent.Schema }

// Mixin of the PasswordReset.
func (PasswordReset) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the PasswordReset.
func (PasswordReset) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Bytes("token_hash").Unique().Immutable().Sensitive(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable(),
	}
}

// Edges of the PasswordReset.
func (PasswordReset) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("password_resets").Field("organization_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).Ref("password_resets").Field("user_id").Unique().Required().Immutable(),
	}
}

// Annotations of the PasswordReset.
func (PasswordReset) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// MfaChallenge is a login waiting for its second factor.
type MfaChallenge struct{ ent.Schema }

// Mixin of the MfaChallenge.
func (MfaChallenge) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the MfaChallenge.
func (MfaChallenge) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").Immutable().NotEmpty().Comment("A random, unguessable identifier."),
		field.Int("user_id").Immutable(),
		field.Bytes("code_hash").Sensitive().Comment("Keyed hash of the emailed code."),
		field.Int("attempts").Default(0).Comment("Codes tried, counted atomically."),
		field.Int("sends").Default(1).Comment("Codes emailed."),
		field.Time("sent_at").Default(time.Now),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at"),
		field.String("user_agent").Default("").MaxLen(512).Immutable(),
		field.String("ip").Default("").MaxLen(64).Immutable(),
	}
}

// Edges of the MfaChallenge.
func (MfaChallenge) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("mfa_challenges").Field("organization_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).Ref("mfa_challenges").Field("user_id").Unique().Required().Immutable(),
	}
}

// Annotations of the MfaChallenge.
func (MfaChallenge) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Mail is an email waiting to be sent, or sent. Mails are written in the
// transaction of what caused them and sent afterwards, with retries, so
// none is lost.
type Mail struct{ ent.Schema }

// Fields of the Mail.
func (Mail) Fields() []ent.Field {
	return []ent.Field{
		field.Int("organization_id").Optional().Nillable().Immutable(),
		field.String("to").NotEmpty().Immutable(),
		field.String("subject").Immutable(),
		field.Text("body").Immutable().Sensitive().Comment("Plain text; it may hold a secret link or code."),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Int("attempts").Default(0),
		field.Time("next_attempt_at").Default(time.Now),
		field.Time("sent_at").Optional().Nillable(),
		field.String("last_error").Default(""),
	}
}

// Indexes of the Mail.
func (Mail) Indexes() []ent.Index {
	return []ent.Index{index.Fields("sent_at", "next_attempt_at")}
}

// Annotations of the Mail.
func (Mail) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
