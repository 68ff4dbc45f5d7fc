package limits

// Config sets the limits. A limit of 0 or less is not enforced.
type Config struct {
	// MaxDepth is the most fields nested in one another: { me { id } } is
	// 2 deep.
	MaxDepth int
	// MaxAliases is the most aliased fields in an operation, counted
	// across its fragments.
	MaxAliases int
	// MaxComplexity is the largest cost an operation may have; see the
	// package documentation for the cost model.
	MaxComplexity int
	// MaxPageSize is the largest first or last argument accepted.
	MaxPageSize int
	// MaxFilterDepth is the most filters nested in one another in a
	// where argument: {hasRoleWith: [{name: "x"}]} is 2 deep.
	MaxFilterDepth int
	// MaxFilterPredicates is the most predicates of a where argument:
	// every field set counts one, a list of values one per value.
	MaxFilterPredicates int
	// MaxQueryLength is the most characters of query text.
	MaxQueryLength int
	// MaxTokens is the most lexical tokens in the query text.
	MaxTokens int
	// Introspection allows __schema and __type.
	Introspection bool
	// Suggestions lets validation errors suggest names ("Did you mean
	// …?").
	Suggestions bool
	// APQCacheSize is how many automatic persisted queries are kept; 0 or
	// less turns them off.
	APQCacheSize int
}

// The defaults of Config.
const (
	DefaultMaxDepth      = 10
	DefaultMaxAliases    = 30
	DefaultMaxComplexity = 1000
	DefaultMaxPageSize   = 100
	// A filter deeper than 8 or larger than 100 predicates is no form's:
	// it is someone making the database work.
	DefaultMaxFilterDepth      = 8
	DefaultMaxFilterPredicates = 100
	DefaultMaxQueryLength      = 15000
	DefaultMaxTokens           = 5000
	DefaultAPQCacheSize        = 1000
)

// The sizes the cost model assumes for lists of unknown length.
const (
	// AssumedPageSize is the page size of a connection queried without
	// first or last.
	AssumedPageSize = 100
	// AssumedListSize is the length of a list field that is neither in a
	// connection nor given a list argument.
	AssumedListSize = 5
)

// Defaults returns the default limits. Introspection and suggestions are on
// in development and off in production.
func Defaults(production bool) Config {
	return Config{
		MaxDepth:            DefaultMaxDepth,
		MaxAliases:          DefaultMaxAliases,
		MaxComplexity:       DefaultMaxComplexity,
		MaxPageSize:         DefaultMaxPageSize,
		MaxFilterDepth:      DefaultMaxFilterDepth,
		MaxFilterPredicates: DefaultMaxFilterPredicates,
		MaxQueryLength:      DefaultMaxQueryLength,
		MaxTokens:           DefaultMaxTokens,
		Introspection:       !production,
		Suggestions:         !production,
		APQCacheSize:        DefaultAPQCacheSize,
	}
}
