package ingest

import _ "embed"

// EventSchema is the JSON Schema (draft 2020-12) of the event envelope, version 1
// (schema/events.schema.json). TestSchemaAgreesWithDecoder keeps it and DecodeEvent in step.
//
//go:embed schema/events.schema.json
var EventSchema []byte
