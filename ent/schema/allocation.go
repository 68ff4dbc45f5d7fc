package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"roster/internal/viewer"
)

// ApiKey is a machine credential of an organization: the messaging
// platform calls roster with it. Only the SHA-256 hash of its secret is
// stored; the secret is shown once, when the key is created.
type ApiKey struct{ ent.Schema }

// Mixin of the ApiKey.
func (ApiKey) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Fields of the ApiKey.
func (ApiKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			Validate(text(100)).
			Comment("What the key is for, e.g. the system that holds it.").
			Annotations(entgql.OrderField("NAME")),
		field.String("prefix").
			Immutable().
			Comment("The first characters of the secret, to recognise the key by.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)),
		field.Bytes("secret_hash").
			Unique().
			Immutable().
			Sensitive().
			Comment("SHA-256 of the secret.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("permissions", []viewer.Permission{}).
			Default([]viewer.Permission{}).
			Comment("What requests made with the key may do.").
			Annotations(entgql.Type("[Permission!]")),
		field.Time("last_used_at").
			Optional().
			Nillable().
			Comment("When the key was last used (to the minute).").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("revoked_at").
			Optional().
			Nillable().
			Comment("When the key was revoked; a revoked key authenticates nothing.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the ApiKey.
func (ApiKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("api_keys").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the ApiKey.
func (ApiKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A machine credential: the messaging platform authenticates with it."),
		entgql.RelayConnection(),
		entgql.QueryField().Description("The API keys of the viewer's organization. Needs MANAGE_API_KEYS."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Conversation is the little roster keeps of a conversation of the
// messaging platform: what allocation needs to route it to an agent.
type Conversation struct{ ent.Schema }

// Mixin of the Conversation.
func (Conversation) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the Conversation.
func (Conversation) Fields() []ent.Field {
	return []ent.Field{
		field.String("external_id").
			Immutable().
			Validate(text(200)).
			Comment("The messaging platform's ID of the conversation, unique within the organization."),
		field.Int("channel_id").
			Optional().
			Nillable().
			Immutable().
			Comment("The channel the conversation came in on.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("division_id").
			Optional().
			Nillable().
			Comment("The division the conversation is for; when null, the channel's divisions take it.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("state").
			NamedValues("Queued", "QUEUED", "Assigned", "ASSIGNED", "Resolved", "RESOLVED").
			Default("QUEUED").
			Comment("QUEUED while waiting for an agent, ASSIGNED while an agent has it, RESOLVED once done.").
			Annotations(entgql.Type("ConversationState")),
		field.Int("assignee_id").
			Optional().
			Nillable().
			Comment("The agent the conversation is assigned to.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("enqueued_at").
			Default(time.Now).
			Comment("When the conversation (last) started waiting for an agent.").
			Annotations(entgql.OrderField("ENQUEUED_AT")),
		field.Time("assigned_at").
			Optional().
			Nillable().
			Comment("When the conversation was assigned to its current assignee."),
		field.Time("last_agent_reply_at").
			Optional().
			Nillable().
			Comment("When the assignee last replied."),
		field.Time("resolved_at").
			Optional().
			Nillable().
			Comment("When the conversation was resolved."),
	}
}

// Edges of the Conversation.
func (Conversation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("conversations").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("channel", Channel.Type).
			Ref("conversations").
			Field("channel_id").
			Unique().
			Immutable().
			Comment("The channel the conversation came in on."),
		edge.From("division", Division.Type).
			Ref("conversations").
			Field("division_id").
			Unique().
			Comment("The division the conversation is for; when null, the channel's divisions take it."),
		edge.From("assignee", User.Type).
			Ref("assigned_conversations").
			Field("assignee_id").
			Unique().
			Comment("The agent the conversation is assigned to."),
	}
}

// Indexes of the Conversation.
func (Conversation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "external_id").Unique(),
		index.Fields("organization_id", "state", "enqueued_at"),
		index.Fields("assignee_id", "state"),
	}
}

// Annotations of the Conversation.
func (Conversation) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A conversation of the messaging platform, as allocation knows it."),
		entgql.RelayConnection(),
		entgql.QueryField().Description("The conversations the viewer may see."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// AllocationSettings say how conversations are allocated: the
// organization's (division_id 0) and each division's override.
type AllocationSettings struct{ ent.Schema }

// Mixin of the AllocationSettings.
func (AllocationSettings) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Fields of the AllocationSettings.
func (AllocationSettings) Fields() []ent.Field {
	return []ent.Field{
		field.Int("division_id").
			Default(0).
			Immutable().
			Comment("The division these settings override, or 0 for the organization's.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("mode").
			NamedValues("Auto", "AUTO", "Manual", "MANUAL").
			Default("AUTO").
			Comment("AUTO: roster assigns conversations as they arrive. MANUAL: agents take them from the queue and supervisors assign them.").
			Annotations(entgql.Type("AllocationMode")),
		field.Enum("strategy").
			NamedValues("RoundRobin", "ROUND_ROBIN", "Balanced", "BALANCED").
			Default("ROUND_ROBIN").
			Comment("How AUTO picks among eligible agents. ROUND_ROBIN: whoever has waited longest since their last assignment. BALANCED: whoever has the fewest open conversations, ties to whoever has waited longest.").
			Annotations(entgql.Type("AllocationStrategy")),
		field.Int("default_capacity").
			Default(5).
			Range(0, 1000).
			Comment("The most open conversations an agent is given, unless their own capacity says otherwise."),
		field.Bool("receive_when_busy").
			Default(false).
			Comment("Whether agents whose availability is BUSY receive conversations too (ONLINE always do)."),
		field.Bool("agents_may_take").
			Default(true).
			Comment("Whether agents may take the next queued conversation themselves."),
		field.Bool("agents_may_assign_others").
			Default(false).
			Comment("Whether agents may assign conversations to other agents."),
		field.Int("idle_reassign_minutes").
			Default(0).
			Range(0, 10080).
			Comment("Reassign a conversation whose assignee has not replied within this many minutes; 0 turns it off."),
		field.Enum("on_offline").
			NamedValues("Leave", "LEAVE", "Requeue", "REQUEUE").
			Default("LEAVE").
			Comment("What happens to an agent's open conversations when they go offline: LEAVE them, or REQUEUE them for allocation.").
			Annotations(entgql.Type("OfflineRule")),
	}
}

// Edges of the AllocationSettings.
func (AllocationSettings) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("allocation_settings").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the AllocationSettings.
func (AllocationSettings) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "division_id").Unique()}
}

// Annotations of the AllocationSettings.
func (AllocationSettings) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("How conversations are allocated, for the organization or one division."),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput, entgql.SkipOrderField),
	}
}

// AgentLoad is allocation's row per agent: it is locked while the agent is
// given a conversation, so that concurrent decisions never exceed the
// agent's capacity, and remembers the agent's last assignment.
type AgentLoad struct{ ent.Schema }

// Mixin of the AgentLoad.
func (AgentLoad) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the AgentLoad.
func (AgentLoad) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Unique().Immutable(),
		field.Time("last_assigned_at").Optional().Nillable(),
	}
}

// Edges of the AgentLoad.
func (AgentLoad) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("agent_loads").
			Field("organization_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Annotations of the AgentLoad.
func (AgentLoad) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
