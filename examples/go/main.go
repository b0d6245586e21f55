// A small Go program using sqlited's generated gRPC stubs: go run . [host:port [database]]
//
// run.sh (beside this file) generates the stubs from proto/ and builds it with Debian's Go
// packages; sqlited_test.go checks the same calls against a real server.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"

	pb "example.invalid/sqlited/gen/go/sqlited/v1"
)

func main() {
	addr, database := "127.0.0.1:50051", "example"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if len(os.Args) > 2 {
		database = os.Args[2]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Plain text, as the server listens by default; grpc.WithInsecure is what grpc-go 1.33
	// (Debian 12's) has. Newer grpc-go spells it
	// grpc.WithTransportCredentials(insecure.NewCredentials()).
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		log.Fatalf("cannot connect to %s: %v", addr, err)
	}
	defer conn.Close()
	db := pb.NewDatabaseClient(conn)

	// The first write creates the database.
	_, err = db.Execute(ctx, &pb.ExecuteRequest{Database: database, Statement: Statement(
		"CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")})
	if err != nil {
		log.Fatal(err)
	}

	// A transaction: its statements carry its id; nothing is visible to others before Commit.
	tx, err := db.Begin(ctx, &pb.BeginRequest{Database: database, Mode: pb.BeginRequest_IMMEDIATE})
	if err != nil {
		log.Fatal(err)
	}
	for _, body := range []string{"first", "second"} {
		_, err := db.Execute(ctx, &pb.ExecuteRequest{Database: database,
			Statement: Statement("INSERT INTO notes (body) VALUES (?)", body), TransactionId: tx.TransactionId})
		if err != nil {
			log.Fatal(err)
		}
	}
	if _, err := db.Commit(ctx, &pb.CommitRequest{TransactionId: tx.TransactionId}); err != nil {
		log.Fatal(err)
	}

	result, err := Query(ctx, db, &pb.QueryRequest{Database: database,
		Statement: Statement("SELECT id, body FROM notes ORDER BY id DESC LIMIT ?", 2)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Columns, result.Rows)

	// Errors are gRPC statuses with google.rpc details.
	_, err = db.Execute(ctx, &pb.ExecuteRequest{Database: database, Statement: Statement("SELECT * FROM missing_table")})
	details := ErrorDetails(err)
	fmt.Printf("as expected: %v (%s, request %s)\n", err, details.Info.GetReason(), details.Info.GetMetadata()["request_id"])
}
