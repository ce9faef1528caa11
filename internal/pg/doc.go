// Package pg opens the service's Postgres pool: it parses the URL, registers pgvector's types
// on every connection, pings the server, and turns a failure into one line that names host,
// port, database and user (never the password) and the command that sets the database up, or,
// when the server refused the login (a wrong password), that the user and password are to be
// checked.
//
//	pool, err := pg.Connect(ctx, pg.Config{URL: os.Getenv("DATABASE_URL")}) // "" takes DefaultURL
//	defer pool.Close()
//
// Tail is how the in-memory followers (the vector index, the lexical index, the tagger's vector
// poll) tail a table by its updated_at stamp without missing rows of transactions that commit
// late and without re-reading a fixed window on every poll.
//
// Lease elects one holder among the replicas that share a database (the pool refresher's): a
// session-level advisory lock on a connection of its own, released by the server when the
// holder's process dies, taken by another replica at its next Hold.
package pg
