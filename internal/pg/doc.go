// Package pg opens the service's Postgres pool: it parses the URL, registers pgvector's types
// on every connection, pings the server, and turns a failure into one line that names host,
// port, database and user (never the password) and the command that sets the database up.
package pg
