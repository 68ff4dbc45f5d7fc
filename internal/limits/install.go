package limits

import (
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
)

// The extensions.code values of the errors this package returns.
const (
	// CodeBadRequest: the request itself is refused (query text too long,
	// introspection off, malformed persisted query).
	CodeBadRequest = "BAD_REQUEST"
	// CodeQueryTooComplex: too many tokens, too deep, too many aliases or
	// too costly.
	CodeQueryTooComplex = "QUERY_TOO_COMPLEX"
	// CodeBadUserInput: a page size above the limit; extensions.field
	// names the argument.
	CodeBadUserInput = string(apierr.BadUserInput)
	// CodePersistedQueryNotFound: gqlgen's code for a hash the server does
	// not hold.
	CodePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"
)

func init() {
	// Rejections made before execution are answered like gqlgen's parse
	// and validation errors: 422 (or 400 for
	// application/graphql-response+json) instead of 200.
	errcode.RegisterErrorType(CodeBadRequest, errcode.KindProtocol)
	errcode.RegisterErrorType(CodeQueryTooComplex, errcode.KindProtocol)
	errcode.RegisterErrorType(CodeBadUserInput, errcode.KindProtocol)
}

// Install sets cfg's limits on srv: the suggestion options, and the handler
// extensions of Extensions. Call it once, where the other extensions are
// added; do not also add extension.Introspection or
// extension.AutomaticPersistedQuery.
func Install(srv *handler.Server, cfg Config) {
	srv.SetDisableSuggestion(!cfg.Suggestions)
	if !cfg.Suggestions {
		srv.SetValidationRulesFn(rulesWithoutSuggestions)
	}
	for _, ext := range Extensions(cfg) {
		srv.Use(ext)
	}
}

// Extensions returns the handler extensions enforcing cfg, in the order to
// add them. Install adds them; use Extensions only when setting up the
// server's suggestion options separately.
func Extensions(cfg Config) []graphql.HandlerExtension {
	req := &requestLimits{maxLength: cfg.MaxQueryLength, maxTokens: cfg.MaxTokens}
	if cfg.APQCacheSize > 0 {
		req.apq = &extension.AutomaticPersistedQuery{Cache: lru.New[string](cfg.APQCacheSize)}
	}
	exts := []graphql.HandlerExtension{
		req,
		&operationLimits{
			maxDepth:      cfg.MaxDepth,
			maxAliases:    cfg.MaxAliases,
			maxComplexity: cfg.MaxComplexity,
			maxPageSize:   cfg.MaxPageSize,
			introspection: cfg.Introspection,
		},
	}
	if cfg.Introspection {
		exts = append(exts, extension.Introspection{})
	}
	if !cfg.Suggestions {
		exts = append(exts, suggestionFilter{})
	}
	return exts
}

// reject returns an error with code and a message for the client.
func reject(code, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Extensions: map[string]any{"code": code},
	}
}

// rejectAt is reject with the location of pos, when known.
func rejectAt(pos *ast.Position, code, format string, args ...any) *gqlerror.Error {
	err := reject(code, format, args...)
	if pos != nil && pos.Line > 0 {
		err.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	return err
}
