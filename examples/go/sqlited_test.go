// The generated Go stubs against a real sqlited (SQLITED_ADDR, host:port; run.sh starts one):
// values of every type, a streamed query, an error's details, transactions.
package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "example.invalid/sqlited/gen/go/sqlited/v1"
)

var db pb.DatabaseClient

func TestMain(m *testing.M) {
	addr := os.Getenv("SQLITED_ADDR")
	if addr == "" {
		fmt.Fprintln(os.Stderr, "SQLITED_ADDR is not set: run examples/go/run.sh, which starts a server")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot connect to %s: %v\n", addr, err)
		os.Exit(2)
	}
	db = pb.NewDatabaseClient(conn)
	code := m.Run()
	conn.Close()
	os.Exit(code)
}

func context30s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func execute(t *testing.T, database, sql string, params ...interface{}) *pb.ExecuteResponse {
	t.Helper()
	res, err := db.Execute(context30s(t), &pb.ExecuteRequest{Database: database, Statement: Statement(sql, params...)})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res
}

func TestValuesOfEveryType(t *testing.T) {
	ctx := context30s(t)
	execute(t, "go_values", "CREATE TABLE v (x)")
	values := []struct {
		value    interface{}
		typeName string
	}{
		{nil, "null"},
		{int64(0), "integer"},
		{int64(math.MinInt64), "integer"},
		{int64(math.MaxInt64), "integer"},
		{1.5, "real"},
		{-2.5e-300, "real"},
		{math.MaxFloat64, "real"},
		{"", "text"},
		{"héllo ✓", "text"},
		{[]byte{}, "blob"},
		{[]byte{0x00, 0xff, 0x10}, "blob"},
	}
	for _, tc := range values {
		// Through Execute into a table, and back through Query, with SQLite's own typeof().
		execute(t, "go_values", "INSERT INTO v VALUES (?)", tc.value)
		got, err := Query(ctx, db, &pb.QueryRequest{Database: "go_values",
			Statement: Statement("SELECT ?1, typeof(?1)", tc.value)})
		if err != nil {
			t.Fatalf("%#v: %v", tc.value, err)
		}
		row := got.Rows[0]
		if !reflect.DeepEqual(row[0], tc.value) || row[1] != tc.typeName {
			t.Errorf("sent %#v (%s), got %#v (%v)", tc.value, tc.typeName, row[0], row[1])
		}
	}
	got, err := Query(ctx, db, &pb.QueryRequest{Database: "go_values",
		Statement: Statement("SELECT x, typeof(x) FROM v ORDER BY rowid")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != len(values) {
		t.Fatalf("%d rows stored, %d sent", len(got.Rows), len(values))
	}
	for i, tc := range values {
		if !reflect.DeepEqual(got.Rows[i][0], tc.value) || got.Rows[i][1] != tc.typeName {
			t.Errorf("stored %#v (%s), read %#v (%v)", tc.value, tc.typeName, got.Rows[i][0], got.Rows[i][1])
		}
	}
	// Named parameters, keyed without their sigil; an unset Value is NULL too.
	named, err := Query(ctx, db, &pb.QueryRequest{Database: "go_values", Statement: &pb.Statement{
		Sql:         "SELECT :a, @b, $c IS NULL",
		NamedParams: map[string]*pb.Value{"a": Value(int64(7)), "b": Value("seven"), "c": {}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []interface{}{int64(7), "seven", int64(1)}; !reflect.DeepEqual(named.Rows[0], want) {
		t.Errorf("named parameters: %#v, want %#v", named.Rows[0], want)
	}
}

func TestStreamedQuery(t *testing.T) {
	ctx := context30s(t)
	const n = 20000
	execute(t, "go_stream", "CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT, data BLOB)")
	// One ExecuteBatch, the same SQL with many parameter sets: one transaction, all or nothing.
	batch := &pb.ExecuteBatchRequest{Database: "go_stream"}
	for i := 1; i <= n; i++ {
		batch.Statements = append(batch.Statements,
			Statement("INSERT INTO big VALUES (?, ?, ?)", i, fmt.Sprintf("row %d", i), bytes.Repeat([]byte{byte(i)}, 64)))
	}
	res, err := db.ExecuteBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != n || res.Results[n-1].LastInsertRowid != n {
		t.Fatalf("%d results, the last %v", len(res.Results), res.Results[n-1])
	}
	got, err := Query(ctx, db, &pb.QueryRequest{Database: "go_stream",
		Statement: Statement("SELECT id, label, data FROM big ORDER BY id")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Columns, []string{"id", "label", "data"}) {
		t.Errorf("columns %v", got.Columns)
	}
	if len(got.Rows) != n {
		t.Fatalf("%d rows, want %d", len(got.Rows), n)
	}
	for i, row := range got.Rows {
		id := int64(i + 1)
		if row[0] != id || row[1] != fmt.Sprintf("row %d", id) || !bytes.Equal(row[2].([]byte), bytes.Repeat([]byte{byte(id)}, 64)) {
			t.Fatalf("row %d: %#v", i, row)
		}
	}
	// 20,000 rows of ~80 bytes do not fit one batch: the answer came as a stream.
	if got.Messages < 2 {
		t.Errorf("%d rows in %d message(s): not streamed in batches", n, got.Messages)
	}
	if got.Summary == nil {
		t.Error("no summary on the last message")
	}
	t.Logf("%d rows in %d messages", n, got.Messages)
}

func TestErrorDetails(t *testing.T) {
	ctx := context30s(t)
	execute(t, "go_errors", "CREATE TABLE u (id INTEGER PRIMARY KEY, k TEXT UNIQUE)")
	execute(t, "go_errors", "INSERT INTO u (k) VALUES ('a')")

	// A constraint: ALREADY_EXISTS with SQLite's extended code in the ErrorInfo.
	_, err := db.Execute(ctx, &pb.ExecuteRequest{Database: "go_errors", Statement: Statement("INSERT INTO u (k) VALUES ('a')")})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate key: %v, want ALREADY_EXISTS", err)
	}
	d := ErrorDetails(err)
	if d.Info == nil {
		t.Fatalf("no ErrorInfo in %v", err)
	}
	if d.Info.Domain != "sqlited" || d.Info.Reason != "SQLITE_CONSTRAINT_UNIQUE" {
		t.Errorf("ErrorInfo %v", d.Info)
	}
	md := d.Info.Metadata
	if md["sqlite_code"] != "2067" || md["retryable"] != "false" || md["request_id"] == "" {
		t.Errorf("ErrorInfo metadata %v", md)
	}

	// A syntax error: INVALID_ARGUMENT, and BadRequest names the field at fault.
	_, err = db.Execute(ctx, &pb.ExecuteRequest{Database: "go_errors", Statement: Statement("SELEC 1")})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("syntax error: %v, want INVALID_ARGUMENT", err)
	}
	if d := ErrorDetails(err); !reflect.DeepEqual(d.Fields, []string{"statement.sql"}) || d.Info.GetReason() != "SQLITE_ERROR" {
		t.Errorf("syntax error's details: fields %v, ErrorInfo %v", d.Fields, d.Info)
	}

	// A batch names the statement that failed; none of the batch took effect.
	_, err = db.ExecuteBatch(ctx, &pb.ExecuteBatchRequest{Database: "go_errors", Statements: []*pb.Statement{
		Statement("INSERT INTO u (k) VALUES ('b')"), Statement("INSERT INTO u (k) VALUES ('a')"),
	}})
	if d := ErrorDetails(err); status.Code(err) != codes.AlreadyExists || !reflect.DeepEqual(d.Fields, []string{"statements[1]"}) {
		t.Errorf("failed batch: %v, fields %v", err, d.Fields)
	}

	// A read of a database that does not exist creates nothing: NOT_FOUND, in the stream.
	_, err = Query(ctx, db, &pb.QueryRequest{Database: "go_no_such_database", Statement: Statement("SELECT 1")})
	if status.Code(err) != codes.NotFound || ErrorDetails(err).Info == nil {
		t.Errorf("read of a missing database: %v, want NOT_FOUND with an ErrorInfo", err)
	}
	count, err := Query(ctx, db, &pb.QueryRequest{Database: "go_errors", Statement: Statement("SELECT count(*) FROM u")})
	if err != nil || count.Rows[0][0] != int64(1) {
		t.Errorf("after the failed batch: %v %v, want 1 row", count, err)
	}
}

func TestTransactions(t *testing.T) {
	ctx := context30s(t)
	execute(t, "go_tx", "CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)")
	execute(t, "go_tx", "INSERT INTO accounts VALUES ('ann', 100), ('bob', 0)")
	balances := func(txID string) []interface{} {
		t.Helper()
		got, err := Query(ctx, db, &pb.QueryRequest{Database: "go_tx", TransactionId: txID,
			Statement: Statement("SELECT balance FROM accounts ORDER BY name")})
		if err != nil {
			t.Fatal(err)
		}
		var out []interface{}
		for _, row := range got.Rows {
			out = append(out, row[0])
		}
		return out
	}
	inTx := func(txID, sql string, params ...interface{}) {
		t.Helper()
		_, err := db.Execute(ctx, &pb.ExecuteRequest{Database: "go_tx", TransactionId: txID, Statement: Statement(sql, params...)})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	// Committed: both updates at once; before Commit, only the transaction sees them.
	tx, err := db.Begin(ctx, &pb.BeginRequest{Database: "go_tx", Mode: pb.BeginRequest_IMMEDIATE})
	if err != nil {
		t.Fatal(err)
	}
	if tx.TransactionId == "" || tx.LeaseMs == 0 {
		t.Fatalf("Begin answered %v", tx)
	}
	inTx(tx.TransactionId, "UPDATE accounts SET balance = balance - ? WHERE name = 'ann'", 30)
	inTx(tx.TransactionId, "UPDATE accounts SET balance = balance + ? WHERE name = 'bob'", 30)
	if got := balances(tx.TransactionId); !reflect.DeepEqual(got, []interface{}{int64(70), int64(30)}) {
		t.Errorf("inside the transaction: %v", got)
	}
	if got := balances(""); !reflect.DeepEqual(got, []interface{}{int64(100), int64(0)}) {
		t.Errorf("outside, before Commit: %v", got)
	}
	if _, err := db.Commit(ctx, &pb.CommitRequest{TransactionId: tx.TransactionId}); err != nil {
		t.Fatal(err)
	}
	if got := balances(""); !reflect.DeepEqual(got, []interface{}{int64(70), int64(30)}) {
		t.Errorf("after Commit: %v", got)
	}

	// Rolled back: nothing of it stays, and the ended transaction cannot be committed.
	tx, err = db.Begin(ctx, &pb.BeginRequest{Database: "go_tx"})
	if err != nil {
		t.Fatal(err)
	}
	inTx(tx.TransactionId, "DELETE FROM accounts")
	if _, err := db.Rollback(ctx, &pb.RollbackRequest{TransactionId: tx.TransactionId}); err != nil {
		t.Fatal(err)
	}
	if got := balances(""); !reflect.DeepEqual(got, []interface{}{int64(70), int64(30)}) {
		t.Errorf("after Rollback: %v", got)
	}
	_, err = db.Commit(ctx, &pb.CommitRequest{TransactionId: tx.TransactionId})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Commit after Rollback: %v, want FAILED_PRECONDITION", err)
	}
	_, err = db.Commit(ctx, &pb.CommitRequest{TransactionId: "no-such-transaction"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Commit of an unknown transaction: %v, want NOT_FOUND", err)
	}

	// Read-only: a snapshot; a write inside it is refused.
	ro, err := db.Begin(ctx, &pb.BeginRequest{Database: "go_tx", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Execute(ctx, &pb.ExecuteRequest{Database: "go_tx", TransactionId: ro.TransactionId,
		Statement: Statement("DELETE FROM accounts")})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a write in a read-only transaction: %v, want FAILED_PRECONDITION", err)
	}
	if _, err := db.Rollback(ctx, &pb.RollbackRequest{TransactionId: ro.TransactionId}); err != nil {
		t.Error(err)
	}
}
