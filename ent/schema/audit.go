package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditEvent holds the schema definition for the AuditEvent entity: one
// entry of an organization's append-only audit log.
type AuditEvent struct{ ent.Schema }

// Fields of the AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	skipInputs := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)
	return []ent.Field{
		field.Int("organization_id").
			Immutable().
			Comment("The organization whose log holds the entry.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("seq").
			Immutable().
			Comment("The entry's position in its organization's log: 1 for the first, one more for each next.").
			Annotations(skipInputs),
		field.Enum("actor_type").
			NamedValues("User", "USER", "APIKey", "API_KEY", "System", "SYSTEM").
			Immutable().
			Comment("Who acted: a user, an API key, or the server itself (a background job, or a client not yet logged in).").
			Annotations(entgql.Type("AuditActorType"), skipInputs),
		field.Int("actor_id").
			Optional().
			Nillable().
			Immutable().
			Comment("The ID of the user or API key who acted; null for the server.").
			Annotations(entgql.Type("ID"), skipInputs),
		field.String("actor_label").
			Default("").
			Immutable().
			Comment("A readable name of who acted, as it was then: the user's email, the API key's name, or the server job's name.").
			Annotations(skipInputs),
		field.String("action").
			Immutable().
			Comment("What was done, as type.verb: user.create, user.update, user.archive, role.update, login.failed…").
			Annotations(skipInputs),
		field.String("target_type").
			Immutable().
			Comment("The type of what was acted on: User, Role, Division, Channel, Organization, Session, Invitation.").
			Annotations(skipInputs),
		field.Int("target_id").
			Optional().
			Nillable().
			Immutable().
			Comment("The ID of what was acted on; it stays readable after that is deleted.").
			Annotations(entgql.Type("ID"), skipInputs),
		field.String("target_label").
			Default("").
			Immutable().
			Comment("A readable name of what was acted on, as it was then (an email, a name).").
			Annotations(skipInputs),
		field.Text("changes").
			Default("{}").
			Immutable().
			Comment("The changes as a JSON object: each changed field with its value before and after; secrets only as changed.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("client_address").
			Default("").
			Immutable().
			Comment("The IP address of the client that made the request.").
			Annotations(skipInputs),
		field.String("user_agent").
			Default("").
			Immutable().
			Comment("The User-Agent of the client that made the request.").
			Annotations(skipInputs),
		field.String("request_id").
			Default("").
			Immutable().
			Comment("The ID of the request, as in the server's logs and the X-Request-ID response header.").
			Annotations(skipInputs),
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Comment("When it happened.").
			Annotations(entgql.OrderField("CREATED_AT"), skipInputs),
		field.String("prev_hash").
			Immutable().
			Comment("The hash of the previous entry of the organization's log (empty for the first).").
			Annotations(skipInputs),
		field.String("hash").
			Immutable().
			Comment("The SHA-256 of this entry, its previous entry's hash included, in hex.").
			Annotations(skipInputs),
	}
}

// Indexes of the AuditEvent.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "seq").Unique(),
		index.Fields("organization_id", "created_at"),
		index.Fields("organization_id", "target_type", "target_id"),
	}
}

// Annotations of the AuditEvent.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("An entry of the organization's audit log: who changed what, when and from where."),
		entgql.RelayConnection(),
	}
}
