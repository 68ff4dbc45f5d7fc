package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Division is a team of users, fed by channels.
type Division struct{ ent.Schema }

// Mixin of the Division.
func (Division) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}, VersionMixin{}} }

// Fields of the Division.
func (Division) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			Validate(text(100)).
			Comment("The division's name, unique within the organization (compared case-insensitively).").
			Annotations(entgql.OrderField("NAME")),
		field.String("name_key").
			Comment("The name folded to lower case, for uniqueness.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("description").
			Default("").
			Validate(paragraph(1000)).
			Comment("What the division does."),
	}
}

// Edges of the Division.
func (Division) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("divisions").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("conversations", Conversation.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("members", User.Type).
			Comment("The users who belong to the division.").
			Annotations(entgql.RelayConnection()),
		edge.From("channels", Channel.Type).
			Ref("divisions").
			Comment("The channels whose conversations go to this division's inbox."),
	}
}

// Indexes of the Division.
func (Division) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "name_key").Unique()}
}

// Annotations of the Division.
func (Division) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A division: a team of users that channels feed."),
		entgql.RelayConnection(),
		entgql.QueryField().Description("The divisions of the viewer's organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}
