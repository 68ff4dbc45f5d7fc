package limits

import (
	"context"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"

	"roster/internal/apierr"
)

// requestLimits checks the query text before it is parsed, and serves
// automatic persisted queries.
type requestLimits struct {
	maxLength int
	maxTokens int
	// apq is nil when persisted queries are off.
	apq *extension.AutomaticPersistedQuery
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*requestLimits)(nil)

// ExtensionName names the extension.
func (*requestLimits) ExtensionName() string { return "LimitsRequest" }

// Validate checks the persisted query cache.
func (r *requestLimits) Validate(schema graphql.ExecutableSchema) error {
	if r.apq != nil {
		return r.apq.Validate(schema)
	}
	return nil
}

// MutateOperationParameters refuses query text that is too long or has too
// many tokens, and resolves persisted queries. The text sent with a hash is
// checked before the persisted query extension stores it.
func (r *requestLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	sent := p.Query != ""
	if sent {
		if err := r.checkText(p.Query); err != nil {
			return err
		}
	}
	if r.apq == nil {
		return nil
	}
	if err := r.apq.MutateOperationParameters(ctx, p); err != nil {
		if err.Extensions["code"] == nil {
			// Malformed extension, unknown version, hash mismatch.
			if err.Extensions == nil {
				err.Extensions = map[string]any{}
			}
			err.Extensions["code"] = apierr.BadRequest
		}
		return err
	}
	if !sent && p.Query != "" {
		// Found by its hash: it was checked when stored, but the limits
		// may be stricter than whoever stored it.
		return r.checkText(p.Query)
	}
	return nil
}

func (r *requestLimits) checkText(q string) *gqlerror.Error {
	if r.maxLength > 0 && len(q) > r.maxLength {
		// len counts bytes, at least as many as characters.
		if n := utf8.RuneCountInString(q); n > r.maxLength {
			return reject(apierr.BadRequest, "query is too long: %d characters, at most %d allowed", n, r.maxLength)
		}
	}
	if r.maxTokens > 0 && countTokens(q, r.maxTokens) > r.maxTokens {
		return reject(apierr.QueryTooComplex, "query is too complex: more than %d tokens", r.maxTokens)
	}
	return nil
}

// countTokens returns the number of tokens (comments included, as
// gqlparser's parser counts them) of q, or limit+1 once there are more than
// limit. It stops at the first lexical error, which the parser then
// reports.
func countTokens(q string, limit int) int {
	lx := lexer.New(&ast.Source{Input: q})
	n := 0
	for n <= limit {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break
		}
		n++
	}
	return n
}
