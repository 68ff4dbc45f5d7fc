package store

// For the tests of package store_test, which use storetest (itself a user
// of this package).

var (
	OpenCached    = openCached
	ParseURL      = parse
	StmtCacheSize = stmtCacheSize
)

// CachedStatements returns the number of statements the driver connection
// dc keeps prepared.
func CachedStatements(dc any) int { return dc.(*cachingConn).stmts.Len() }
