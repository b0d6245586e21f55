// What a Go program needs on top of the generated stubs: values in and out, a query's
// streamed answer gathered, and an error's rich details read back.
package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pb "example.invalid/sqlited/gen/go/sqlited/v1"
)

// Value turns a Go value into a sqlited Value: nil, int64 (and int), float64, string and
// []byte are SQLite's five storage classes.
func Value(v interface{}) *pb.Value {
	switch v := v.(type) {
	case nil:
		return &pb.Value{Kind: &pb.Value_Null{Null: structpb.NullValue_NULL_VALUE}}
	case int:
		return &pb.Value{Kind: &pb.Value_Integer{Integer: int64(v)}}
	case int64:
		return &pb.Value{Kind: &pb.Value_Integer{Integer: v}}
	case float64:
		return &pb.Value{Kind: &pb.Value_Real{Real: v}}
	case string:
		return &pb.Value{Kind: &pb.Value_Text{Text: v}}
	case []byte:
		return &pb.Value{Kind: &pb.Value_Blob{Blob: v}}
	}
	panic(fmt.Sprintf("no SQLite value for %T", v))
}

// Go turns a sqlited Value back into nil, int64, float64, string or []byte. An unset Value is
// NULL, as the proto says.
func Go(v *pb.Value) interface{} {
	switch k := v.GetKind().(type) {
	case *pb.Value_Integer:
		return k.Integer
	case *pb.Value_Real:
		return k.Real
	case *pb.Value_Text:
		return k.Text
	case *pb.Value_Blob:
		// A present but empty blob stays a blob, not NULL.
		if k.Blob == nil {
			return []byte{}
		}
		return k.Blob
	}
	return nil
}

// Statement is one SQL statement with its positional parameters (params[0] binds ?1).
func Statement(sql string, params ...interface{}) *pb.Statement {
	s := &pb.Statement{Sql: sql}
	for _, p := range params {
		s.Params = append(s.Params, Value(p))
	}
	return s
}

// Result is a query's whole answer, gathered from its stream.
type Result struct {
	Columns []string
	Rows    [][]interface{}
	// How many messages the rows came in: the server streams them in bounded batches.
	Messages int
	// What a writing statement changed (from the last message).
	Summary *pb.ExecuteResponse
}

// Query runs a statement through Database.Query and reads its stream to the end. The first
// message carries the columns; the last one carries the summary.
func Query(ctx context.Context, db pb.DatabaseClient, req *pb.QueryRequest) (*Result, error) {
	stream, err := db.Query(ctx, req)
	if err != nil {
		return nil, err
	}
	result := &Result{}
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return result, nil
		}
		if err != nil {
			return nil, err
		}
		if result.Messages == 0 {
			for _, c := range msg.Columns {
				result.Columns = append(result.Columns, c.Name)
			}
		} else if len(msg.Columns) > 0 {
			return nil, fmt.Errorf("columns on message %d, not only on the first", result.Messages+1)
		}
		result.Messages++
		for _, row := range msg.Rows {
			values := make([]interface{}, len(row.Values))
			for i, v := range row.Values {
				values[i] = Go(v)
			}
			result.Rows = append(result.Rows, values)
		}
		if msg.Summary != nil {
			result.Summary = msg.Summary
		}
	}
}

// Details is what a sqlited error carries besides its code and message: the
// google.rpc.ErrorInfo (reason, domain "sqlited", metadata sqlite_code, retryable,
// request_id), the fields a BadRequest names, and whether a RetryInfo came with it.
type Details struct {
	Info      *errdetails.ErrorInfo
	Fields    []string
	RetryInfo *errdetails.RetryInfo
}

// ErrorDetails decodes the rich details of a gRPC error (its grpc-status-details-bin
// trailer); the errdetails import registers their types, so Details() can unpack them.
func ErrorDetails(err error) Details {
	var d Details
	st, ok := status.FromError(err)
	if !ok {
		return d
	}
	for _, detail := range st.Details() {
		switch detail := detail.(type) {
		case *errdetails.ErrorInfo:
			d.Info = detail
		case *errdetails.BadRequest:
			for _, v := range detail.FieldViolations {
				d.Fields = append(d.Fields, v.Field)
			}
		case *errdetails.RetryInfo:
			d.RetryInfo = detail
		}
	}
	return d
}
