package filter

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"consulate/structs"
)

func sampleCSN() structs.CheckServiceNode {
	return structs.CheckServiceNode{
		Node: &structs.Node{Node: "n1", Address: "127.0.0.11", Meta: map[string]string{"env": "prod", "rack": "r1"}},
		Service: &structs.NodeService{ID: "web-1", Service: "web", Tags: []string{"v1", "primary"}, Port: 8080,
			Meta: map[string]string{"version": "1.2"}, EnableTagOverride: true},
		Checks: structs.HealthChecks{
			{CheckID: "serfHealth", Status: "passing"},
			{CheckID: "web-http", Status: "critical", Output: "connection refused"},
		},
	}
}

func TestMatchTable(t *testing.T) {
	csn := sampleCSN()
	cases := []struct {
		expr string
		want bool
	}{
		{`Service.Service == "web"`, true},
		{`Service.Service == web`, true},
		{`Service.Service != "web"`, false},
		{`Service.Service == "db"`, false},
		{`"v1" in Service.Tags`, true},
		{`"v2" in Service.Tags`, false},
		{`"v2" not in Service.Tags`, true},
		{`v1 in Service.Tags`, true},
		{`Service.Tags contains "primary"`, true},
		{`Service.Tags not contains "primary"`, false},
		{`Node.Meta.env == "prod"`, true},
		{`Node.Meta["env"] == "prod"`, true},
		{`Node.Meta.env == "dev"`, false},
		{`Node.Meta.missing is empty`, true},
		{`Node.Meta is not empty`, true},
		{`"rack" in Node.Meta`, true},
		{`Checks.Status == "critical"`, true},
		{`Checks.Status == "warning"`, false},
		{`Checks.Status != "warning"`, true},
		{`Checks.Output contains "refused"`, true},
		{`Service.Port == 8080`, true},
		{`Service.Port == 80`, false},
		{`Service.EnableTagOverride == true`, true},
		{`Service.Meta.version matches "^1\\."`, true},
		{`Service.Meta.version not matches "^2"`, true},
		{`service.service == "web"`, true},
		{`Service.Service == "web" and Node.Meta.env == "prod"`, true},
		{`Service.Service == "web" and Node.Meta.env == "dev"`, false},
		{`Service.Service == "db" or Node.Meta.env == "prod"`, true},
		{`not Service.Service == "db"`, true},
		{`not (Service.Service == "web" or Service.Service == "db")`, false},
		{`(Service.Service == "db" or "v1" in Service.Tags) and Service.Port == 8080`, true},
		{`Service.Address is empty`, true},
		{`Service.Tags is empty`, false},
	}
	for _, c := range cases {
		e, err := Compile(c.expr)
		if err != nil {
			t.Fatalf("%s: compile: %v", c.expr, err)
		}
		if err := e.Validate(reflect.TypeOf(csn)); err != nil {
			t.Fatalf("%s: validate: %v", c.expr, err)
		}
		if got := e.Match(csn); got != c.want {
			t.Errorf("%s: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestFlatServiceNode(t *testing.T) {
	sn := structs.ToServiceNode(&structs.Node{Node: "n1"}, &structs.NodeService{ID: "a", Service: "api", Tags: []string{"x"}, Meta: map[string]string{"version": "2"}})
	for expr, want := range map[string]bool{
		`ServiceTags contains "x"`:    true,
		`ServiceMeta.version == "2"`:  true,
		`ServiceName == "api"`:        true,
		`ServiceWeights.Passing == 1`: true,
	} {
		e, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Validate(reflect.TypeOf(sn)); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := e.Match(sn); got != want {
			t.Errorf("%s: got %v", expr, got)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := map[string]string{
		`Service ==`:             "expected a value",
		`Service = "x"`:          "did you mean",
		`"unterminated`:          "unterminated string",
		`(Service == "x"`:        "expected ')'",
		`Service == "x" and`:     "unexpected end",
		`Service "x"`:            "expected an operator",
		`Service is full`:        "expected 'empty'",
		`Service matches "("`:    "invalid regular expression",
		`Service == "x" Service`: "unexpected",
		`"x" Service`:            "expected 'in'",
		`Service not foo "x"`:    "expected 'contains' or 'matches'",
		`Service == "a" ; drop`:  "unexpected character",
		strings.Repeat("(", 200) + `A == "b"` + strings.Repeat(")", 200): "nested too deeply",
	}
	for expr, want := range cases {
		_, err := Compile(expr)
		if err == nil {
			t.Errorf("%q: compiled, want error containing %q", expr, want)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q, want it to contain %q", expr, err, want)
		}
	}
}

func TestValidateUnknownSelector(t *testing.T) {
	e, err := Compile(`Service.Nope == "x"`)
	if err != nil {
		t.Fatal(err)
	}
	err = e.Validate(reflect.TypeOf(structs.CheckServiceNode{}))
	if err == nil || !strings.Contains(err.Error(), `"Nope"`) {
		t.Fatalf("want error naming Nope, got %v", err)
	}
	e, _ = Compile(`Service.Port.x == "1"`)
	if err := e.Validate(reflect.TypeOf(structs.CheckServiceNode{})); err == nil {
		t.Fatal("selector through an int validated")
	}
}

func TestSliceAndMapHelpers(t *testing.T) {
	e, _ := Compile(`Service == "web"`)
	in := []*structs.NodeService{{Service: "web"}, {Service: "db"}, {Service: "web"}}
	if got := Slice(e, in); len(got) != 2 {
		t.Fatalf("got %d", len(got))
	}
	m := map[string]*structs.NodeService{"a": {Service: "web"}, "b": {Service: "db"}}
	if got := Map(e, m); len(got) != 1 || got["a"] == nil {
		t.Fatalf("got %v", got)
	}
	var nilExpr *Expr
	if len(Slice(nilExpr, in)) != 3 {
		t.Fatal("nil expr filtered")
	}
	if e, err := Compile("  "); e != nil || err != nil {
		t.Fatal("blank expression should compile to nil")
	}
}
