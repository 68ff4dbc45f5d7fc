package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Instance is a running server process. It proves it is alive by a
// heartbeat; the connections of an instance whose heartbeat stops are
// ended by the others.
type Instance struct{ ent.Schema }

// Fields of the Instance.
func (Instance) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			Immutable().
			NotEmpty().
			Comment("A random name the process chose at start-up."),
		field.Time("started_at").
			Default(time.Now).
			Immutable(),
		field.Time("heartbeat_at").
			Default(time.Now),
		field.Time("drain_until").
			Optional().
			Nillable().
			Comment("Set when the instance shut down gracefully: its connections are closed (not counted as devices), and its users who have not reconnected elsewhere go offline at this time, the end of the grace period; until then they stay online."),
	}
}

// Edges of the Instance.
func (Instance) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("connections", Connection.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Annotations of the Instance.
func (Instance) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Connection is a live, authenticated websocket of a user, on one instance.
// A user is online while they have at least one.
type Connection struct{ ent.Schema }

// Mixin of the Connection.
func (Connection) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the Connection.
func (Connection) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Int("session_id").Immutable(),
		field.String("instance_id").Immutable(),
		field.Time("opened_at").Default(time.Now).Immutable(),
		field.String("user_agent").Default("").MaxLen(512).Immutable(),
	}
}

// Edges of the Connection.
func (Connection) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("connections").
			Field("organization_id").
			Unique().
			Required().
			Immutable(),
		edge.From("user", User.Type).
			Ref("live_connections").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
		edge.From("session", Session.Type).
			Ref("connections").
			Field("session_id").
			Unique().
			Required().
			Immutable(),
		edge.From("instance", Instance.Type).
			Ref("connections").
			Field("instance_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the Connection.
func (Connection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id")}
}

// Annotations of the Connection.
func (Connection) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
