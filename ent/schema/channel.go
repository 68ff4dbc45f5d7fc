package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Channel is an integration with a messaging channel (a WhatsApp number, a
// Facebook page, a mailbox, a website widget, ...) whose conversations feed
// the inboxes of some divisions.
type Channel struct{ ent.Schema }

// Mixin of the Channel.
func (Channel) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}, VersionMixin{}} }

// Fields of the Channel.
func (Channel) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("type").
			Values("WHATSAPP", "FACEBOOK", "INSTAGRAM", "EMAIL", "TELEGRAM", "TWITTER", "LINE", "LIVECHAT", "WEBCHAT", "CRM").
			Immutable().
			Comment("The kind of integration. It cannot be changed after creation.").
			Annotations(entgql.Type("ChannelType"), entgql.OrderField("TYPE")),
		field.String("name").
			Validate(text(100)).
			Comment("The channel's name as shown to agents.").
			Annotations(entgql.OrderField("NAME")),
		field.Bool("enabled").
			Default(true).
			Comment("Whether the channel takes conversations. A disabled channel keeps its settings and connection.").
			Annotations(entgql.Skip(entgql.SkipMutationUpdateInput)),
		field.Enum("connection_state").
			NamedValues("Connected", "CONNECTED", "Disconnected", "DISCONNECTED").
			Default("DISCONNECTED").
			Comment("Whether the integration is connected to its provider.").
			Annotations(entgql.Type("ChannelConnectionState"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.JSON("settings", map[string]any{}).
			Default(map[string]any{}).
			Comment("Type-specific settings, e.g. {\"address\": \"support@example.com\"} for an EMAIL channel or {\"phoneNumber\": \"+6281234567890\"} for WHATSAPP. Unknown keys are refused.").
			Annotations(entgql.Type("Map")),
		field.JSON("credentials", map[string]any{}).
			Optional().
			Sensitive().
			Comment("Write-only. Secrets for the provider (e.g. {\"accessToken\": \"…\"}): string values, stored and never returned by any query.").
			Annotations(entgql.Type("Map"), entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipOrderField)),
	}
}

// Edges of the Channel.
func (Channel) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("channels").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("conversations", Conversation.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("divisions", Division.Type).
			Comment("The divisions whose inbox this channel feeds."),
	}
}

// Annotations of the Channel.
func (Channel) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A channel integration whose conversations feed the inboxes of divisions."),
		entgql.RelayConnection(),
		entgql.QueryField().Description("The channels of the viewer's organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}
