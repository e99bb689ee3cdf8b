// Package docs holds Tandem's API descriptions, embedded so the server can
// serve them: the OpenAPI description of the REST API (served at
// /api/openapi.json and checked against the real handlers by the tests).
package docs

import _ "embed"

// OpenAPI is the OpenAPI 3 description of the REST API, as JSON.
//
//go:embed openapi.json
var OpenAPI []byte
