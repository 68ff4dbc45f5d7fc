package limits

import (
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/internal/apierr"
)

func init() {
	// Rejections made before execution are answered like gqlgen's parse
	// and validation errors: 422 (or 400 for
	// application/graphql-response+json) instead of 200.
	errcode.RegisterErrorType(string(apierr.BadRequest), errcode.KindProtocol)
	errcode.RegisterErrorType(string(apierr.QueryTooComplex), errcode.KindProtocol)
	errcode.RegisterErrorType(string(apierr.BadUserInput), errcode.KindProtocol)
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
func reject(code apierr.Code, format string, args ...any) *gqlerror.Error {
	return apierr.New(code, format, args...).GraphQL()
}

// rejectAt is reject with the location of pos, when known.
func rejectAt(pos *ast.Position, code apierr.Code, format string, args ...any) *gqlerror.Error {
	err := reject(code, format, args...)
	if pos != nil && pos.Line > 0 {
		err.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	return err
}
