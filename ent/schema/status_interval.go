package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// StatusInterval is a span of time during which a user's availability and
// online state did not change. The intervals of one user never overlap and
// leave no gap from the first on; the last is open (no end) until the next
// change.
type StatusInterval struct{ ent.Schema }

// Mixin of the StatusInterval.
func (StatusInterval) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the StatusInterval.
func (StatusInterval) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Enum("availability").
			Values("ONLINE", "BUSY", "AWAY", "OFFLINE").
			Immutable().
			Comment("The availability the user had chosen."),
		field.Bool("online").
			Immutable().
			Comment("Whether the user had a live connection."),
		field.Time("started_at").Immutable(),
		field.Time("ended_at").
			Optional().
			Nillable().
			Comment("When the next interval started; empty while this one lasts."),
		field.Enum("source").
			Values("CREATED", "SET_BY_USER", "SET_BY_ADMIN", "CONNECTED", "DISCONNECTED", "GRACE_EXPIRED", "INSTANCE_LOST").
			Immutable().
			Comment("What started the interval."),
	}
}

// Edges of the StatusInterval.
func (StatusInterval) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("status_intervals").
			Field("organization_id").
			Unique().
			Required().
			Immutable(),
		edge.From("user", User.Type).
			Ref("status_intervals").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the StatusInterval.
func (StatusInterval) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "started_at"),
		index.Fields("organization_id", "started_at"),
	}
}

// Annotations of the StatusInterval.
func (StatusInterval) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
