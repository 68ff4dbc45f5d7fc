package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"roster/internal/phone"
)

// Organization is a tenant: a company using the product. Nothing is shared
// between organizations.
type Organization struct{ ent.Schema }

// Mixin of the Organization.
func (Organization) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			Validate(text(200)).
			Comment("The organization's name."),
		field.Enum("plan").
			NamedValues("Trial", "TRIAL", "Paid", "PAID").
			Default("TRIAL").
			Comment("The organization's plan. On PAID, admins, supervisors and agents who may broadcast must log in with a second factor.").
			Annotations(entgql.Type("Plan")),
		field.String("country").
			Default(phone.DefaultCountry).
			Validate(countryCode).
			Comment("The organization's country, as an ISO 3166-1 alpha-2 code (e.g. ID, GB): phone numbers typed without a country code are read as numbers of this country."),
		field.String("time_zone").
			Default("UTC").
			Validate(timeZone).
			Comment("The organization's IANA time zone, such as Asia/Jakarta: reports count days in it."),
	}
}

// Edges of the Organization.
func (Organization) Edges() []ent.Edge {
	skip := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("users", User.Type).Annotations(skip),
		edge.To("roles", Role.Type).Annotations(skip),
		edge.To("divisions", Division.Type).Annotations(skip),
		edge.To("channels", Channel.Type).Annotations(skip),
		edge.To("sessions", Session.Type).Annotations(skip),
		edge.To("connections", Connection.Type).Annotations(skip),
		edge.To("invitations", Invitation.Type).Annotations(skip),
		edge.To("mfa_challenges", MfaChallenge.Type).Annotations(skip),
		edge.To("api_keys", ApiKey.Type).Annotations(skip),
		edge.To("conversations", Conversation.Type).Annotations(skip),
		edge.To("allocation_settings", AllocationSettings.Type).Annotations(skip),
		edge.To("agent_loads", AgentLoad.Type).Annotations(skip),
		edge.To("password_resets", PasswordReset.Type).Annotations(skip),
		edge.To("status_intervals", StatusInterval.Type).Annotations(skip),
	}
}

// Annotations of the Organization.
func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("An organization: the tenant that owns users, roles, divisions and channels."),
	}
}
