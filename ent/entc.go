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
		},
	}, entc.Extensions(ex),
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
// generated schema a description, where ent's comments leave one out.
func describe(g *gen.Graph, s *ast.Schema) error {
	for _, n := range g.Nodes {
		c, _ := n.Annotations["Comment"].(map[string]any)
		if def, ok := s.Types[n.Name]; ok && def.Description == "" && c != nil {
			def.Description, _ = c["Text"].(string)
		}
	}
	for _, def := range s.Types {
		if def.Description == "" {
			def.Description = typeDescription(def)
		}
		for _, v := range def.EnumValues {
			if v.Description == "" {
				v.Description = enumValues[def.Name+"."+v.Name]
			}
			if v.Description == "" {
				v.Description = fmt.Sprintf("Order by %s.", words(v.Name))
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
	switch def.Name {
	case "Cursor":
		return "An opaque position in a connection, for pagination."
	case "Map":
		return "A JSON object."
	case "Time":
		return "A point in time, as an RFC 3339 string."
	case "Node":
		return "An object with a globally unique ID."
	}
	return def.Name + "."
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
		return fmt.Sprintf("IDs of %s to add.", words(strings.TrimSuffix(strings.TrimPrefix(name, "add"), "IDs")))
	case strings.HasPrefix(name, "remove") && strings.HasSuffix(name, "IDs"):
		return fmt.Sprintf("IDs of %s to remove.", words(strings.TrimSuffix(strings.TrimPrefix(name, "remove"), "IDs")))
	case strings.HasPrefix(name, "clear"):
		return fmt.Sprintf("Set to true to remove every %s.", words(strings.TrimPrefix(name, "clear")))
	case strings.HasSuffix(name, "IDs"):
		return fmt.Sprintf("IDs of the %s.", words(strings.TrimSuffix(name, "IDs")))
	case strings.HasSuffix(name, "ID"):
		return fmt.Sprintf("ID of the %s.", words(strings.TrimSuffix(name, "ID")))
	}
	if isWhere {
		for _, p := range predicateSuffixes {
			if base, ok := strings.CutSuffix(name, p.suffix); ok && base != "" {
				return fmt.Sprintf("Matches when %s %s.", words(base), p.text)
			}
		}
		return fmt.Sprintf("Matches when %s equals the value.", words(name))
	}
	return fmt.Sprintf("The %s.", words(name))
}

// words turns a camelCase or UPPER_CASE name into lower-case words.
func words(name string) string {
	if strings.ToUpper(name) == name {
		return strings.ToLower(strings.ReplaceAll(name, "_", " "))
	}
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.ReplaceAll(b.String(), "i d", "ID")
}
