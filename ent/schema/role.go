package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"roster/internal/viewer"
)

// Role is a named set of permissions. Every organization has the built-in
// roles Admin, Supervisor and Agent; admins may add their own.
type Role struct{ ent.Schema }

// Mixin of the Role.
func (Role) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}, VersionMixin{}} }

// Fields of the Role.
func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			Validate(text(100)).
			Comment("The role's name, unique within the organization (compared case-insensitively).").
			Annotations(entgql.OrderField("NAME")),
		field.String("name_key").
			Comment("The name folded to lower case, for uniqueness.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("description").
			Default("").
			Validate(paragraph(1000)).
			Comment("What the role is for."),
		field.JSON("permissions", []viewer.Permission{}).
			Default([]viewer.Permission{}).
			Comment("What users with this role may do.").
			Annotations(entgql.Type("[Permission!]")),
		field.Enum("builtin").
			NamedValues("Admin", "ADMIN", "Supervisor", "SUPERVISOR", "Agent", "AGENT").
			Optional().
			Nillable().
			Immutable().
			Comment("Which built-in role this is, or null for a custom role. Built-in roles cannot be renamed or deleted, and the Admin role's permissions cannot be changed.").
			Annotations(entgql.Type("BuiltinRole"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the Role.
func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("roles").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("users", User.Type).
			Comment("The users who have this role.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Indexes of the Role.
func (Role) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "name_key").Unique()}
}

// Annotations of the Role.
func (Role) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A role: a named set of permissions given to users."),
		entgql.RelayConnection(),
		entgql.QueryField().Description("The roles of the viewer's organization."),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}
