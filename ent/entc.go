//go:build ignore

// entc generates the ent code and the ent part of the GraphQL schema
// (ent.graphql). Run it from the repository root: go generate ./...
package main

import (
	"fmt"
	"log"
	"strings"
	"unicode"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/internal/password"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./ent.graphql"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(describe),
	)
	if err != nil {
		log.Fatalf("create entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureGlobalID,
			gen.FeatureIntercept,
			gen.FeatureModifier,
			gen.FeatureUpsert,
		},
	}, entc.Extensions(ex),
		// After the extension: ent/template overrides entgql's Paginate,
		// lets queries join the edges they hold the key of, and lets an
		// entity decoded from an event read its edges through a client
		// (Bind).
		func(cfg *gen.Config) error {
			t, err := gen.NewTemplate("roster").Funcs(entgql.TemplateFuncs).ParseDir("./ent/template")
			if err != nil {
				return err
			}
			cfg.Templates = append(cfg.Templates, t)
			return nil
		},
		// Hooks hash passwords with the client's Hasher: production's
		// cost by default, the cheapest in tests (ent.Hasher option).
		entc.Dependency(entc.DependencyName("Hasher"), entc.DependencyType(password.Hasher{})),
	)
	if err != nil {
		log.Fatalf("run ent codegen: %v", err)
	}
}

// enumValues describes the values of the enums ent generates.
var enumValues = map[string]string{
	"AuditActorType.USER":                 "A user, through a session.",
	"AuditActorType.API_KEY":              "An API key.",
	"AuditActorType.SYSTEM":               "The server itself: a background job, or a client not logged in yet.",
	"Availability.ONLINE":                 "Available to take chats.",
	"Availability.BUSY":                   "Working, but not taking new chats.",
	"Availability.AWAY":                   "Away for a while.",
	"Availability.OFFLINE":                "Not working.",
	"BuiltinRole.ADMIN":                   "The Admin role: every permission.",
	"BuiltinRole.SUPERVISOR":              "The Supervisor role: oversees divisions' chats.",
	"BuiltinRole.AGENT":                   "The Agent role: answers chats.",
	"ChatAccess.ALL_DIVISIONS":            "Sees the chats of every division.",
	"ChatAccess.ASSIGNED_DIVISIONS":       "Sees only the chats of the divisions the user belongs to.",
	"UserStatus.INVITED":                  "Invited, and has not set a password yet.",
	"UserStatus.ACTIVE":                   "Can log in and work.",
	"UserStatus.ARCHIVED":                 "Archived: cannot log in; restorable for 30 days (by default), then deleted.",
	"ChannelConnectionState.CONNECTED":    "Connected to its provider.",
	"ChannelConnectionState.DISCONNECTED": "Not connected to its provider.",
	"ChannelType.WHATSAPP":                "A WhatsApp Business number.",
	"ChannelType.FACEBOOK":                "A Facebook page's Messenger.",
	"ChannelType.INSTAGRAM":               "An Instagram business account's direct messages.",
	"ChannelType.EMAIL":                   "A mailbox.",
	"ChannelType.TELEGRAM":                "A Telegram bot.",
	"ChannelType.TWITTER":                 "An X (Twitter) account's direct messages.",
	"ChannelType.LINE":                    "A LINE official account.",
	"ChannelType.LIVECHAT":                "The live chat of the product's own app.",
	"ChannelType.WEBCHAT":                 "A chat widget on a website.",
	"ChannelType.CRM":                     "A CRM integration.",
	"OrderDirection.ASC":                  "Ascending: smallest first.",
	"OrderDirection.DESC":                 "Descending: largest first.",
	"Plan.TRIAL":                          "Trying the product out.",
	"Plan.PAID":                           "Paying: admins, supervisors and agents who may broadcast log in with a second factor.",
	"AllocationMode.AUTO":                 "Roster assigns conversations as they arrive.",
	"AllocationMode.MANUAL":               "Agents take conversations from the queue; supervisors assign them.",
	"AllocationStrategy.ROUND_ROBIN":      "Fair rotation: whoever has waited longest since their last assignment.",
	"AllocationStrategy.BALANCED":         "Whoever has the fewest open conversations; ties to whoever has waited longest.",
	"OfflineRule.LEAVE":                   "Leave an agent's conversations with them when they go offline.",
	"OfflineRule.REQUEUE":                 "Return an agent's open conversations to allocation when they go offline.",
	"ConversationState.QUEUED":            "Waiting for an agent.",
	"ConversationState.ASSIGNED":          "With an agent.",
	"ConversationState.RESOLVED":          "Done.",
}

// orderValues describes the order fields whose names alone read badly.
var orderValues = map[string]string{
	"CREATED_AT": "Order by creation time.",
	"UPDATED_AT": "Order by the time of the last change.",
}

// typeDescriptions describes the types entgql describes only with its own
// boilerplate ("Plan is enum for the field plan").
var typeDescriptions = map[string]string{
	"AuditActorType":         "Who acted in an audit entry.",
	"Availability":           "Whether a user takes chats, as they chose.",
	"BuiltinRole":            "Which of the built-in roles a role is.",
	"ChannelConnectionState": "Whether a channel is connected to its provider.",
	"ChannelType":            "The kind of integration a channel is.",
	"ChatAccess":             "Whose chats a supervisor sees.",
	"Plan":                   "What an organization pays for.",
	"AllocationMode":         "Whether roster assigns conversations or people do.",
	"AllocationStrategy":     "How roster picks among eligible agents.",
	"OfflineRule":            "What happens to an agent's conversations when they go offline.",
	"ConversationState":      "Where a conversation is in allocation.",
	"UserStatus":             "Where a user's account stands: invited, active or archived.",
	"Query":                  "What a client can read.",
	"Cursor":                 "An opaque position in a connection, for pagination: pass an edge's cursor as after, or as before with last. A cursor holds its place in the order it was taken in.",
	"Map":                    "A JSON object.",
	"Time":                   "A point in time, as an RFC 3339 string.",
}

// predicateSuffixes describes the where-input predicates by their suffix.
var predicateSuffixes = []struct{ suffix, text string }{
	{"NEQ", "is not equal to the value"},
	{"NotIn", "is none of the values"},
	{"In", "is one of the values"},
	{"GTE", "is greater than or equal to the value"},
	{"GT", "is greater than the value"},
	{"LTE", "is less than or equal to the value"},
	{"LT", "is less than the value"},
	{"ContainsFold", "contains the value, ignoring case"},
	{"Contains", "contains the value"},
	{"HasPrefix", "starts with the value"},
	{"HasSuffix", "ends with the value"},
	{"EqualFold", "equals the value, ignoring case"},
	{"IsNil", "is not set"},
	{"NotNil", "is set"},
}

// describe gives every type, field, argument and enum value of the
// generated schema a description in English, where ent's comments leave one
// out or entgql wrote its boilerplate.
func describe(g *gen.Graph, s *ast.Schema) error {
	for _, n := range g.Nodes {
		c, _ := n.Annotations["Comment"].(map[string]any)
		if def, ok := s.Types[n.Name]; ok && def.Description == "" && c != nil {
			def.Description, _ = c["Text"].(string)
		}
	}
	for _, def := range s.Types {
		if d, ok := typeDescriptions[def.Name]; ok {
			def.Description = d
		}
		if def.Description == "" || strings.Contains(def.Description, "generated by ent") || strings.HasPrefix(def.Description, "Ordering options for") {
			def.Description = typeDescription(def)
		}
		orderField := strings.HasSuffix(def.Name, "OrderField")
		for _, v := range def.EnumValues {
			if v.Description == "" {
				v.Description = enumValues[def.Name+"."+v.Name]
			}
			if v.Description == "" && orderField {
				v.Description = orderValues[v.Name]
				if v.Description == "" {
					v.Description = fmt.Sprintf("Order by %s.", words(v.Name))
				}
			}
		}
		for _, f := range def.Fields {
			if strings.HasSuffix(f.Description, " field predicates") {
				f.Description = ""
			}
			if f.Description == "" {
				f.Description = fieldDescription(def, f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					a.Description = fieldDescription(def, a.Name)
				}
			}
		}
	}
	return nil
}

func typeDescription(def *ast.Definition) string {
	for _, p := range []struct{ prefix, suffix, format string }{
		{"Create", "Input", "The fields of a new %s."},
		{"Update", "Input", "The changes to make to a %s: fields left out stay as they are."},
		{"", "WhereInput", "A filter on %ss: every condition given must hold."},
		{"", "Order", "How to order a list of %ss."},
	} {
		if strings.HasPrefix(def.Name, p.prefix) && strings.HasSuffix(def.Name, p.suffix) {
			if base := strings.TrimSuffix(strings.TrimPrefix(def.Name, p.prefix), p.suffix); base != "" {
				return fmt.Sprintf(p.format, words(base))
			}
		}
	}
	switch def.Name {
	case "Node":
		return "An object with a globally unique ID."
	}
	return ""
}

func fieldDescription(def *ast.Definition, name string) string {
	switch name {
	case "id":
		return "The object's globally unique ID."
	case "not":
		return "Matches what the filter does not."
	case "and":
		return "Matches what every filter matches."
	case "or":
		return "Matches what any filter matches."
	}
	isWhere := strings.HasSuffix(def.Name, "WhereInput")
	switch {
	case isWhere && strings.HasPrefix(name, "has") && strings.HasSuffix(name, "With"):
		return fmt.Sprintf("Has %s matching any of the filters.", words(strings.TrimSuffix(strings.TrimPrefix(name, "has"), "With")))
	case isWhere && strings.HasPrefix(name, "has"):
		return fmt.Sprintf("Whether it has %s.", words(strings.TrimPrefix(name, "has")))
	case strings.HasPrefix(name, "add") && strings.HasSuffix(name, "IDs"):
		return fmt.Sprintf("IDs of %s to add.", plural(words(strings.TrimSuffix(strings.TrimPrefix(name, "add"), "IDs"))))
	case strings.HasPrefix(name, "remove") && strings.HasSuffix(name, "IDs"):
		return fmt.Sprintf("IDs of %s to remove.", plural(words(strings.TrimSuffix(strings.TrimPrefix(name, "remove"), "IDs"))))
	case strings.HasPrefix(name, "clear"):
		return fmt.Sprintf("Set to true to remove the %s.", words(strings.TrimPrefix(name, "clear")))
	case strings.HasPrefix(name, "append"):
		return fmt.Sprintf("%s to add to the current ones.", capitalize(words(strings.TrimPrefix(name, "append"))))
	case strings.HasSuffix(name, "IDs"):
		return fmt.Sprintf("IDs of the %s.", plural(words(strings.TrimSuffix(name, "IDs"))))
	case strings.HasSuffix(name, "ID"):
		return fmt.Sprintf("ID of the %s.", words(strings.TrimSuffix(name, "ID")))
	}
	if isWhere {
		for _, p := range predicateSuffixes {
			if base, ok := strings.CutSuffix(name, p.suffix); ok && base != "" {
				return fmt.Sprintf("Matches when the %s %s.", words(base), p.text)
			}
		}
		return fmt.Sprintf("Matches when the %s equals the value.", words(name))
	}
	return fmt.Sprintf("The %s.", words(name))
}

// words turns a camelCase or UPPER_CASE name into lower-case words,
// keeping acronyms: avatarURL → "avatar URL", divisionIDs → "division IDs",
// LAST_SEEN_AT → "last seen at".
func words(name string) string {
	if strings.ToUpper(name) == name {
		return word(strings.ReplaceAll(name, "_", " "))
	}
	rs := []rune(name)
	var out []string
	start := 0
	for i := 1; i <= len(rs); i++ {
		if i == len(rs) || startsWord(rs, i) {
			out = append(out, word(string(rs[start:i])))
			start = i
		}
	}
	return strings.Join(out, " ")
}

// startsWord reports whether a new word starts at rs[i] (i > 0): a capital
// after a small letter (fooBar), or the last capital of a run that a small
// letter follows (URLPath), except the plural s of an acronym (IDs).
func startsWord(rs []rune, i int) bool {
	if !unicode.IsUpper(rs[i]) {
		return false
	}
	if !unicode.IsUpper(rs[i-1]) {
		return true
	}
	if i+1 < len(rs) && unicode.IsLower(rs[i+1]) {
		pluralS := rs[i+1] == 's' && (i+2 == len(rs) || unicode.IsUpper(rs[i+2]))
		return !pluralS
	}
	return false
}

// word writes one word of a name: acronyms in capitals, others in lower
// case.
func word(w string) string {
	if up := strings.ToUpper(w); acronyms[up] {
		return up
	}
	if base, ok := strings.CutSuffix(w, "s"); ok && acronyms[strings.ToUpper(base)] {
		return strings.ToUpper(base) + "s"
	}
	return strings.ToLower(w)
}

// acronyms are kept in capitals in descriptions.
var acronyms = map[string]bool{"ID": true, "URL": true, "IP": true, "TOTP": true, "MFA": true}

// plural makes a lower-case noun plural, the simple way.
func plural(noun string) string {
	if strings.HasSuffix(noun, "s") {
		return noun
	}
	return noun + "s"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
