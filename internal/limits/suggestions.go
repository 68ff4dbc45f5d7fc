package limits

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// rulesWithoutSuggestions returns gqlparser's default validation rules with
// the rules that suggest names replaced by their variants that do not.
// gqlgen's own SetDisableSuggestion swaps FieldsOnCorrectType and
// ScalarLeafs; these are the others.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, swap := range [...][2]core.Rule{
		{rules.KnownArgumentNamesRule, rules.KnownArgumentNamesRuleWithoutSuggestions},
		{rules.KnownTypeNamesRule, rules.KnownTypeNamesRuleWithoutSuggestions},
		{rules.ValuesOfCorrectTypeRule, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
	} {
		r.RemoveRule(swap[0].Name)
		r.AddRule(swap[1].Name, swap[1].RuleFunc)
	}
	return r
}

// suggestionFilter cuts "Did you mean …?" from every error message of a
// response, whatever produced it.
type suggestionFilter struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = suggestionFilter{}

// ExtensionName names the extension.
func (suggestionFilter) ExtensionName() string { return "LimitsSuggestions" }

// Validate accepts any schema.
func (suggestionFilter) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse removes the suggestions of the response's errors.
func (suggestionFilter) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	for i, e := range resp.Errors {
		if e == nil {
			continue
		}
		if msg, ok := withoutSuggestion(e.Message); ok {
			c := *e
			c.Message = msg
			resp.Errors[i] = &c
		}
	}
	return resp
}

// withoutSuggestion cuts the suggestion gqlparser appends to a message.
func withoutSuggestion(msg string) (string, bool) {
	i := strings.Index(msg, " Did you mean ")
	if i < 0 {
		return msg, false
	}
	return msg[:i], true
}
