package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"roster/graph"
)

// post serves a GraphQL request POSTed as JSON, as transport.POST does, but
// writes the response's data as the executor wrote it. transport.POST
// encodes the whole response with encoding/json, which validates and
// compacts the data, byte by byte, once more: for a page of users, a
// twentieth of the request's time. graphqlOverHTTP settles the response's
// media type and, for a request that did not execute, its status.
type post struct{ transport.POST }

func (post) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media, _ := negotiate(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, body)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, opErr := exec.CreateOperationContext(ctx, &params)
	if opErr != nil {
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			if media == mediaJSON {
				w.WriteHeader(http.StatusUnprocessableEntity)
			} else {
				w.WriteHeader(http.StatusBadRequest)
			}
		}
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	rsp := responses(ctx)
	writeResponse(w, rsp)
	if rsp != nil {
		graph.ReleaseData(rsp.Data)
	}
}

// responseRest is what a graphql.Response holds besides its errors and
// data, encoded as encoding/json encodes a graphql.Response.
type responseRest struct {
	Label      string         `json:"label,omitempty"`
	Path       ast.Path       `json:"path,omitempty"`
	HasNext    *bool          `json:"hasNext,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// writeResponse writes rsp as encoding/json encodes a graphql.Response
// (errors first, then data, null when there is none), its data as it is:
// the executor writes JSON.
func writeResponse(w io.Writer, rsp *graphql.Response) {
	if rsp == nil {
		io.WriteString(w, "null")
		return
	}
	io.WriteString(w, "{")
	if len(rsp.Errors) > 0 {
		b, err := json.Marshal(rsp.Errors)
		if err != nil {
			panic(fmt.Errorf("encode the errors of a response: %w", err))
		}
		io.WriteString(w, `"errors":`)
		w.Write(b)
		io.WriteString(w, ",")
	}
	io.WriteString(w, `"data":`)
	if len(rsp.Data) == 0 {
		io.WriteString(w, "null")
	} else {
		w.Write(rsp.Data)
	}
	if rsp.Label != "" || rsp.Path != nil || rsp.HasNext != nil || rsp.Extensions != nil {
		b, err := json.Marshal(responseRest{rsp.Label, rsp.Path, rsp.HasNext, rsp.Extensions})
		if err != nil {
			panic(fmt.Errorf("encode a response: %w", err))
		}
		if len(b) > 2 {
			io.WriteString(w, ",")
			w.Write(b[1 : len(b)-1])
		}
	}
	io.WriteString(w, "}")
}
