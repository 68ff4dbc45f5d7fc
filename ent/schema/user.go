package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// User is an account of an organization: an agent, a supervisor or an admin.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("first_name").
			Validate(text(100)).
			Comment("The user's first (given) name.").
			Annotations(entgql.OrderField("FIRST_NAME")),
		field.String("last_name").
			Validate(text(100)).
			Comment("The user's last (family) name.").
			Annotations(entgql.OrderField("LAST_NAME")),
		field.String("display_name").
			Default("").
			Validate(maxLen(200)).
			Comment("The name shown to customers and colleagues. Defaults to the full name when left empty.").
			Annotations(entgql.OrderField("DISPLAY_NAME")),
		field.String("email").
			Validate(emailAddress).
			Comment("The user's email address, used to log in. Unique within the organization, compared case-insensitively, and stored in lower case.").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("phone").
			Optional().
			Nillable().
			Validate(phoneNumber).
			Comment("The user's phone number, stored and returned in E.164 (e.g. +6281234567890). Accepted as people type it: with its country code (+62 812-3456-7890), or as dialled in the organization's country (0812 3456 7890). formattedPhone shows it for people to read."),
		field.String("avatar_url").
			Optional().
			Nillable().
			Validate(httpURL).
			Comment("The URL of the user's avatar image.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("password").
			StorageKey("password_hash").
			Default("").
			Sensitive().
			Comment("Write-only. A new password: at least 10 characters, not the email address, not a common password. Only its hash is stored; it is never returned.").
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipOrderField)),
		field.Int("role_id").
			Comment("The user's role.").
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipOrderField)),
		field.Bool("broadcast").
			Default(false).
			Comment("Whether the user may send broadcasts in addition to what their role grants (used to give an agent the Broadcast permission)."),
		field.Enum("chat_access").
			NamedValues("AllDivisions", "ALL_DIVISIONS", "AssignedDivisions", "ASSIGNED_DIVISIONS").
			Default("ALL_DIVISIONS").
			Comment("For supervisors: whether they see the chats of all divisions or only of the divisions they belong to.").
			Annotations(entgql.Type("ChatAccess")),
		field.Enum("status").
			NamedValues("Invited", "INVITED", "Active", "ACTIVE", "Archived", "ARCHIVED").
			Default("INVITED").
			Comment("The account's status: INVITED until a password is set, ACTIVE, or ARCHIVED (restorable for 30 days by default, then deleted).").
			Annotations(entgql.Type("UserStatus"), entgql.OrderField("STATUS"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Enum("availability").
			NamedValues("Online", "ONLINE", "Busy", "BUSY", "Away", "AWAY", "Offline", "OFFLINE").
			Default("OFFLINE").
			Comment("The availability the user has chosen for taking chats.").
			Annotations(entgql.Type("Availability"), entgql.OrderField("AVAILABILITY"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Bool("online").
			Default(false).
			Comment("Whether the user has at least one live connection (on any server instance), as observed by the server.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Int("connections").
			Default(0).
			NonNegative().
			Comment("How many live connections (devices, tabs) the user has.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)),
		field.Int("version").
			Default(1).
			Comment("Increases with every change of the user, availability and presence included. An event about the user carries the version it describes: apply it only when newer than the version you hold.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)),
		field.Time("last_seen_at").
			Optional().
			Nillable().
			Comment("When the user was last seen connected.").
			// Not an order field: users never seen have none, and cursors
			// cannot page through nulls.
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Bool("mfa_required").
			Default(false).
			Comment("Whether the user must confirm each login with a second factor (an emailed code, or an authenticator app once enrolled). Turned on when the organization is on the PAID plan and the user is an admin or supervisor, or may broadcast.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Bytes("totp_secret").
			Optional().
			Nillable().
			Sensitive().
			Comment("The secret of the user's authenticator app, once enrolment started.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("totp_enabled").
			Default(false).
			Comment("Whether the user confirmed an authenticator app (TOTP) as a second factor.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)),
		field.Int64("totp_last_step").
			Default(0).
			Comment("The last time step of an accepted authenticator code, so that none is used twice.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("capacity").
			Optional().
			Nillable().
			Range(0, 1000).
			Comment("The most open conversations allocation gives the user; when null, the allocation settings' default capacity."),
		field.Time("archived_at").
			Optional().
			Nillable().
			Comment("When the user was archived, if they are.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("users").
			Field("organization_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("role", Role.Type).
			Ref("users").
			Field("role_id").
			Unique().
			Required().
			Comment("The user's role, which decides what they may do."),
		edge.From("divisions", Division.Type).
			Ref("members").
			Comment("The divisions (teams) the user belongs to."),
		edge.To("sessions", Session.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
		edge.To("live_connections", Connection.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
		edge.To("invitations", Invitation.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
		edge.To("mfa_challenges", MfaChallenge.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
		edge.To("assigned_conversations", Conversation.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("password_resets", PasswordReset.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
		edge.To("status_intervals", StatusInterval.Type).
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "email").Unique(),
		index.Fields("organization_id", "status"),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A user of the organization: an agent, supervisor or admin."),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}
