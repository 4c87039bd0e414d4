package awsdeploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/goccy/go-yaml"

	"latch.dev/latch/internal/config"
	"latch.dev/latch/internal/policy"
	"latch.dev/latch/internal/store/dynamodb"
)

const templateFile = "template.yaml"

// The handlers of cmd/latch-lambda, by the function that runs each.
var wantHandlers = map[string]string{
	"TokenFunction":      "token",
	"AuthorizerFunction": "authorizer",
	"StreamFunction":     "stream",
	"SignupFunction":     "signup",
}

// pseudoParameters may be named by Ref and ${...} anywhere.
var pseudoParameters = map[string]bool{
	"AWS::Region": true, "AWS::AccountId": true, "AWS::Partition": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

// attributes lists what Fn::GetAtt may ask of each resource type used here;
// a new type must be added with the attributes the template uses.
var attributes = map[string][]string{
	"AWS::DynamoDB::Table":            {"Arn", "StreamArn"},
	"AWS::SQS::Queue":                 {"Arn", "QueueName", "QueueUrl"},
	"AWS::Serverless::Function":       {"Arn"},
	"AWS::ApiGateway::RestApi":        {"RestApiId", "RootResourceId"},
	"AWS::ApiGateway::Authorizer":     {"AuthorizerId"},
	"AWS::ApiGateway::Resource":       {"ResourceId"},
	"AWS::ApiGateway::Deployment":     {"DeploymentId"},
	"AWS::Lambda::EventSourceMapping": {"EventSourceMappingId"},
}

type resource struct {
	Type       string
	Condition  string
	Properties map[string]any
	Metadata   map[string]any
	raw        map[string]any
}

type tmpl struct {
	doc        map[string]any
	params     map[string]any
	conditions map[string]any
	resources  map[string]resource
	globals    map[string]any // Globals.Function
}

func loadTemplate(t *testing.T) *tmpl {
	t.Helper()
	raw, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s does not parse as plain YAML: %v", templateFile, err)
	}
	tp := &tmpl{doc: doc, resources: map[string]resource{}}
	tp.params, _ = doc["Parameters"].(map[string]any)
	tp.conditions, _ = doc["Conditions"].(map[string]any)
	if g, ok := doc["Globals"].(map[string]any); ok {
		tp.globals, _ = g["Function"].(map[string]any)
	}
	rs, ok := doc["Resources"].(map[string]any)
	if !ok || len(rs) == 0 {
		t.Fatalf("%s has no Resources", templateFile)
	}
	for name, v := range rs {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("Resources.%s is not a mapping", name)
		}
		r := resource{raw: m}
		r.Type, _ = m["Type"].(string)
		r.Condition, _ = m["Condition"].(string)
		r.Properties, _ = m["Properties"].(map[string]any)
		r.Metadata, _ = m["Metadata"].(map[string]any)
		if r.Properties == nil {
			r.Properties = map[string]any{}
		}
		tp.resources[name] = r
	}
	return tp
}

// ofType returns the names of the resources of type typ, sorted.
func (tp *tmpl) ofType(typ string) []string {
	var out []string
	for name, r := range tp.resources {
		if r.Type == typ {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// function returns a serverless function's properties with Globals.Function
// merged in as SAM does: maps merge, the function's own values win.
func (tp *tmpl) function(t *testing.T, name string) map[string]any {
	t.Helper()
	return merge(t, name, tp.globals, tp.resources[name].Properties)
}

func merge(t *testing.T, path string, global, local map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range global {
		out[k] = v
	}
	for k, v := range local {
		gm, gok := out[k].(map[string]any)
		lm, lok := v.(map[string]any)
		_, glist := out[k].([]any)
		_, llist := v.([]any)
		switch {
		case gok && lok && !isIntrinsic(gm) && !isIntrinsic(lm):
			out[k] = merge(t, path+"."+k, gm, lm)
		case glist && llist:
			t.Errorf("%s.%s is a list both in Globals and in the function: SAM appends the two; keep it in one place", path, k)
		default:
			out[k] = v
		}
	}
	return out
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func getString(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

// refName returns X for {Ref: X}.
func refName(v any) string {
	return getString(v, "Ref")
}

// getAtt returns X and A for {Fn::GetAtt: [X, A]}.
func getAtt(v any) (string, string) {
	l, ok := get(v, "Fn::GetAtt").([]any)
	if !ok || len(l) != 2 {
		return "", ""
	}
	a, _ := l[0].(string)
	b, _ := l[1].(string)
	return a, b
}

// asStrings returns a string or a list of strings as a list.
func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, fmt.Sprint(x))
			}
		}
		return out
	}
	return nil
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), true
	case float64:
		return int64(n), float64(int64(n)) == n
	}
	return 0, false
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(b), "module latch.dev/latch\n") {
		t.Fatalf("%s is not the module root of latch.dev/latch", root)
	}
	return root
}

// TestTemplateIsPlainYAML: short tags (!Ref, !Sub, ...) need a YAML parser
// that knows CloudFormation; the template uses the long forms only.
func TestTemplateIsPlainYAML(t *testing.T) {
	raw, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	short := regexp.MustCompile(`(^|[\s\[{,:-])!(Ref|GetAtt|Sub|If|Equals|Not|And|Or|Join|Select|Split|FindInMap|ImportValue|Base64|Cidr|GetAZs|Condition|Transform|ToJsonString|Length)\b`)
	for i, line := range strings.Split(string(raw), "\n") {
		code, _, _ := strings.Cut(line, " #")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if m := short.FindString(code); m != "" {
			t.Errorf("%s:%d: short-form tag %q; write the long form (Ref:, Fn::Sub:, ...)", templateFile, i+1, strings.TrimSpace(m))
		}
	}
	tp := loadTemplate(t)
	if v := getString(tp.doc, "Transform"); v != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %q, want AWS::Serverless-2016-10-31", v)
	}
	if v := getString(tp.doc, "AWSTemplateFormatVersion"); v != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %q, want \"2010-09-09\" (quoted, or YAML makes it a date)", v)
	}
}

// TestReferencesResolve walks the whole template: every Ref, Fn::GetAtt,
// ${...} of Fn::Sub, DependsOn, Condition and Fn::If names something
// declared; a conditional resource is named only where the same condition
// holds.
func TestReferencesResolve(t *testing.T) {
	tp := loadTemplate(t)
	w := &walker{t: t, tp: tp, used: map[string]bool{}}
	for _, section := range []string{"Conditions", "Globals", "Resources", "Outputs"} {
		m, _ := tp.doc[section].(map[string]any)
		for name, v := range m {
			cond := ""
			if section == "Resources" {
				cond = tp.resources[name].Condition
			}
			if section == "Outputs" {
				cond = getString(v, "Condition")
			}
			w.walk(section+"."+name, v, cond, false)
		}
	}
	if len(tp.params) == 0 || len(tp.conditions) == 0 {
		t.Fatalf("the template declares no Parameters or Conditions; the test expects both")
	}
	for _, kind := range []struct {
		what  string
		names map[string]any
	}{{"parameter", tp.params}, {"condition", tp.conditions}} {
		for name := range kind.names {
			if !w.used[name] {
				t.Errorf("%s %s is declared but never used", kind.what, name)
			}
		}
	}
	if w.refs == 0 || w.subs == 0 || w.ifs == 0 {
		t.Errorf("walked %d Refs, %d Fn::Sub and %d Fn::If: the walk missed the template", w.refs, w.subs, w.ifs)
	}
}

type walker struct {
	t               *testing.T
	tp              *tmpl
	refs, subs, ifs int
	used            map[string]bool // parameters and conditions named
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// walk checks v at path; cond is the condition under which v applies (the
// enclosing resource's or output's); ifBranch says v is a branch of Fn::If.
func (w *walker) walk(path string, v any, cond string, ifBranch bool) {
	switch v := v.(type) {
	case []any:
		for i, x := range v {
			w.walk(fmt.Sprintf("%s[%d]", path, i), x, cond, false)
		}
	case map[string]any:
		for k, x := range v {
			p := path + "." + k
			switch k {
			case "Ref":
				w.refs++
				name, ok := x.(string)
				if !ok {
					w.t.Errorf("%s: Ref takes a name, not %v", p, x)
					continue
				}
				if name == "AWS::NoValue" {
					if !ifBranch {
						w.t.Errorf("%s: Ref AWS::NoValue outside a branch of Fn::If", p)
					}
					continue
				}
				w.name(p, name, cond)
			case "Fn::GetAtt":
				l, ok := x.([]any)
				if !ok || len(l) != 2 {
					w.t.Errorf("%s: write Fn::GetAtt as a list [Resource, Attribute], not %v", p, x)
					continue
				}
				res, _ := l[0].(string)
				attr, _ := l[1].(string)
				w.attr(p, res, attr, cond)
			case "Fn::Sub":
				w.subs++
				w.sub(p, x, cond)
			case "Fn::If":
				w.ifs++
				l, ok := x.([]any)
				if !ok || len(l) != 3 {
					w.t.Errorf("%s: Fn::If takes [Condition, IfTrue, IfFalse], not %v", p, x)
					continue
				}
				c, _ := l[0].(string)
				w.condition(p, c)
				w.walk(p+"[1]", l[1], cond, true)
				w.walk(p+"[2]", l[2], cond, true)
			case "Condition":
				if c, ok := x.(string); ok {
					w.condition(p, c)
				} else {
					w.walk(p, x, cond, false) // an IAM statement's Condition block
				}
			case "DependsOn":
				for _, name := range asStrings(x) {
					if _, ok := w.tp.resources[name]; !ok {
						w.t.Errorf("%s: %q is not a resource", p, name)
					} else {
						w.conditional(p, name, cond)
					}
				}
			default:
				w.walk(p, x, cond, false)
			}
		}
	}
}

// name checks a Ref (or a ${Name}) names a resource, a parameter or a
// pseudo parameter.
func (w *walker) name(path, name, cond string) {
	if pseudoParameters[name] {
		return
	}
	if _, ok := w.tp.params[name]; ok {
		w.used[name] = true
		return
	}
	if _, ok := w.tp.resources[name]; ok {
		w.conditional(path, name, cond)
		return
	}
	w.t.Errorf("%s: %q is not a resource, a parameter or a pseudo parameter", path, name)
}

func (w *walker) attr(path, res, attr, cond string) {
	r, ok := w.tp.resources[res]
	if !ok {
		w.t.Errorf("%s: %q is not a resource", path, res)
		return
	}
	w.conditional(path, res, cond)
	known, ok := attributes[r.Type]
	if !ok {
		w.t.Errorf("%s: the test does not know the attributes of %s; add them to the attributes table", path, r.Type)
		return
	}
	if !slices.Contains(known, attr) {
		w.t.Errorf("%s: %s (%s) has no attribute %q (known: %v)", path, res, r.Type, attr, known)
	}
}

func (w *walker) condition(path, name string) {
	w.used[name] = true
	if _, ok := w.tp.conditions[name]; !ok {
		w.t.Errorf("%s: %q is not a declared condition", path, name)
	}
}

// conditional reports a reference to a conditional resource from where its
// condition may not hold.
func (w *walker) conditional(path, res, cond string) {
	if c := w.tp.resources[res].Condition; c != "" && c != cond {
		w.t.Errorf("%s: %q exists only under condition %s", path, res, c)
	}
}

func (w *walker) sub(path string, x any, cond string) {
	var text string
	vars := map[string]any{}
	switch x := x.(type) {
	case string:
		text = x
	case []any:
		if len(x) != 2 {
			w.t.Errorf("%s: Fn::Sub takes a string or [string, {variables}]", path)
			return
		}
		text, _ = x[0].(string)
		vars, _ = x[1].(map[string]any)
		for k, v := range vars {
			w.walk(path+"[1]."+k, v, cond, false)
		}
	default:
		w.t.Errorf("%s: Fn::Sub takes a string or [string, {variables}], not %v", path, x)
		return
	}
	if text == "" {
		w.t.Errorf("%s: Fn::Sub of an empty or non-literal string", path)
	}
	for _, m := range subVar.FindAllStringSubmatch(text, -1) {
		name := m[1]
		if strings.HasPrefix(name, "!") {
			continue // ${!Literal}
		}
		if _, ok := vars[name]; ok {
			continue
		}
		if res, attr, ok := strings.Cut(name, "."); ok {
			w.attr(path+" ${"+name+"}", res, attr, cond)
			continue
		}
		w.refs++
		w.name(path+" ${"+name+"}", name, cond)
	}
}

// fakeTables records what CreateTable asks for.
type fakeTables struct {
	create *ddb.CreateTableInput
	ttl    *ddb.UpdateTimeToLiveInput
}

func (f *fakeTables) CreateTable(_ context.Context, in *ddb.CreateTableInput, _ ...func(*ddb.Options)) (*ddb.CreateTableOutput, error) {
	f.create = in
	return &ddb.CreateTableOutput{TableDescription: &types.TableDescription{TableName: in.TableName, TableStatus: types.TableStatusCreating}}, nil
}

func (f *fakeTables) DescribeTable(_ context.Context, in *ddb.DescribeTableInput, _ ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error) {
	if f.create == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no table")}
	}
	return &ddb.DescribeTableOutput{Table: &types.TableDescription{TableName: in.TableName, TableStatus: types.TableStatusActive}}, nil
}

func (f *fakeTables) UpdateTimeToLive(_ context.Context, in *ddb.UpdateTimeToLiveInput, _ ...func(*ddb.Options)) (*ddb.UpdateTimeToLiveOutput, error) {
	f.ttl = in
	return &ddb.UpdateTimeToLiveOutput{TimeToLiveSpecification: in.TimeToLiveSpecification}, nil
}

// latchTable returns the table that LATCH_STORE names.
func latchTable(t *testing.T, tp *tmpl) string {
	t.Helper()
	store := getString(tp.globals, "Environment", "Variables", "LATCH_STORE", "Fn::Sub")
	m := regexp.MustCompile(`^dynamodb://\$\{([A-Za-z0-9]+)\}\?region=\$\{AWS::Region\}$`).FindStringSubmatch(store)
	if m == nil {
		t.Fatalf("Globals.Function LATCH_STORE = %v, want Fn::Sub dynamodb://${Table}?region=${AWS::Region}", get(tp.globals, "Environment", "Variables", "LATCH_STORE"))
	}
	if tp.resources[m[1]].Type != "AWS::DynamoDB::Table" {
		t.Fatalf("LATCH_STORE names %q, which is not an AWS::DynamoDB::Table", m[1])
	}
	return m[1]
}

type keyElem struct{ Name, Type string }

func keyList(t *testing.T, path string, v any, nameKey, typeKey string) []keyElem {
	l, ok := v.([]any)
	if !ok {
		t.Errorf("%s is not a list", path)
		return nil
	}
	var out []keyElem
	for _, x := range l {
		out = append(out, keyElem{getString(x, nameKey), getString(x, typeKey)})
	}
	return out
}

// TestLatchTableIsCreateTables: the template's table is the one that
// `latch dynamodb create-table` makes, read from the Go code itself.
func TestLatchTableIsCreateTables(t *testing.T) {
	tp := loadTemplate(t)
	name := latchTable(t, tp)
	r := tp.resources[name]
	p := r.Properties

	fake := &fakeTables{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dynamodb.CreateTable(ctx, fake, "latch-test"); err != nil {
		t.Fatalf("CreateTable against the fake: %v", err)
	}
	if fake.create == nil || fake.ttl == nil {
		t.Fatalf("CreateTable made no CreateTable or UpdateTimeToLive call")
	}
	in := fake.create

	var wantAttrs []keyElem
	for _, a := range in.AttributeDefinitions {
		wantAttrs = append(wantAttrs, keyElem{aws.ToString(a.AttributeName), string(a.AttributeType)})
	}
	gotAttrs := keyList(t, name+".AttributeDefinitions", p["AttributeDefinitions"], "AttributeName", "AttributeType")
	byName := func(l []keyElem) func(i, j int) bool { return func(i, j int) bool { return l[i].Name < l[j].Name } }
	sort.Slice(wantAttrs, byName(wantAttrs))
	sort.Slice(gotAttrs, byName(gotAttrs))
	if !reflect.DeepEqual(gotAttrs, wantAttrs) {
		t.Errorf("%s AttributeDefinitions = %v, CreateTable sends %v", name, gotAttrs, wantAttrs)
	}

	var wantKeys []keyElem
	for _, k := range in.KeySchema {
		wantKeys = append(wantKeys, keyElem{aws.ToString(k.AttributeName), string(k.KeyType)})
	}
	if got := keyList(t, name+".KeySchema", p["KeySchema"], "AttributeName", "KeyType"); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("%s KeySchema = %v, CreateTable sends %v", name, got, wantKeys)
	}

	if got, want := getString(p, "BillingMode"), string(in.BillingMode); got != want {
		t.Errorf("%s BillingMode = %q, CreateTable sends %q", name, got, want)
	}
	if in.StreamSpecification == nil || !aws.ToBool(in.StreamSpecification.StreamEnabled) {
		t.Errorf("CreateTable enables no stream; the template's stream mappings assume one")
	} else if got, want := getString(p, "StreamSpecification", "StreamViewType"), string(in.StreamSpecification.StreamViewType); got != want {
		t.Errorf("%s StreamViewType = %q, CreateTable sends %q", name, got, want)
	}
	if got, want := getString(p, "TimeToLiveSpecification", "AttributeName"), aws.ToString(fake.ttl.TimeToLiveSpecification.AttributeName); got != want {
		t.Errorf("%s TTL attribute = %q, CreateTable sets %q", name, got, want)
	}
	if got, want := get(p, "TimeToLiveSpecification", "Enabled"), aws.ToBool(fake.ttl.TimeToLiveSpecification.Enabled); got != want {
		t.Errorf("%s TTL Enabled = %v, CreateTable sets %v", name, got, want)
	}
	for _, k := range []string{"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"} {
		goHas := (k == "GlobalSecondaryIndexes" && len(in.GlobalSecondaryIndexes) > 0) ||
			(k == "LocalSecondaryIndexes" && len(in.LocalSecondaryIndexes) > 0) ||
			(k == "ProvisionedThroughput" && in.ProvisionedThroughput != nil)
		if _, tplHas := p[k]; tplHas != goHas {
			t.Errorf("%s: %s in the template %v, in CreateTable %v", name, k, tplHas, goHas)
		}
	}
	// What the template adds to CreateTable's table.
	if get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
		t.Errorf("%s: point-in-time recovery is not enabled", name)
	}
	if get(p, "SSESpecification", "SSEEnabled") != true {
		t.Errorf("%s: SSE is not enabled", name)
	}
	for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if got := getString(r.raw, k); got != "Retain" {
			t.Errorf("%s %s = %q, want Retain: deleting the stack must not delete every secret and token", name, k, got)
		}
	}
}

// TestPaystubsTable: the payroll example's table and its default name.
func TestPaystubsTable(t *testing.T) {
	tp := loadTemplate(t)
	r, ok := tp.resources["PaystubsTable"]
	if !ok || r.Type != "AWS::DynamoDB::Table" {
		t.Fatalf("no AWS::DynamoDB::Table PaystubsTable")
	}
	p := r.Properties
	if got, want := keyList(t, "PaystubsTable.KeySchema", p["KeySchema"], "AttributeName", "KeyType"),
		[]keyElem{{"userId", "HASH"}, {"id", "RANGE"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("PaystubsTable KeySchema = %v, want %v", got, want)
	}
	if got, want := keyList(t, "PaystubsTable.AttributeDefinitions", p["AttributeDefinitions"], "AttributeName", "AttributeType"),
		[]keyElem{{"userId", "S"}, {"id", "S"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("PaystubsTable AttributeDefinitions = %v, want %v", got, want)
	}
	if got := getString(p, "StreamSpecification", "StreamViewType"); got != "NEW_AND_OLD_IMAGES" {
		t.Errorf("PaystubsTable StreamViewType = %q, want NEW_AND_OLD_IMAGES (a grant is revoked from the old image)", got)
	}
	if param := refName(p["TableName"]); param == "" || getString(tp.params[param], "Default") != "paystubs" {
		t.Errorf("PaystubsTable TableName = %v, want Ref of a parameter whose default is paystubs", p["TableName"])
	}
}

// readEnvNames returns the LATCH_* variables that cmd/latch-lambda's
// non-test sources name.
func readEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "cmd", "latch-lambda")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	re := regexp.MustCompile(`"(LATCH_[A-Z0-9_]+)"`)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
	}
	if !names["LATCH_STORE"] || !names["LATCH_LAMBDA_HANDLER"] {
		t.Fatalf("found %v in %s: not the bootstrap's variables", names, dir)
	}
	return names
}

// TestFunctions: four functions, one bootstrap, one handler each, and only
// variables the bootstrap reads.
func TestFunctions(t *testing.T) {
	tp := loadTemplate(t)
	table := latchTable(t, tp)
	fns := tp.ofType("AWS::Serverless::Function")
	var want []string
	for name := range wantHandlers {
		want = append(want, name)
	}
	sort.Strings(want)
	if !slices.Equal(fns, want) {
		t.Fatalf("serverless functions %v, want %v", fns, want)
	}
	known := readEnvNames(t)
	root := moduleRoot(t)

	same := map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"}, "CodeUri": nil}
	var firstMeta map[string]any
	for _, name := range fns {
		p := tp.function(t, name)
		for k, v := range same {
			if v == nil {
				same[k] = p[k] // the first function's value is the reference
				v = p[k]
			}
			if !reflect.DeepEqual(p[k], v) {
				t.Errorf("%s %s = %v, want %v like the other functions (one bootstrap)", name, k, p[k], v)
			}
		}
		meta := tp.resources[name].Metadata
		if firstMeta == nil {
			firstMeta = meta
		} else if !reflect.DeepEqual(meta, firstMeta) {
			t.Errorf("%s Metadata = %v, want %v like the other functions", name, meta, firstMeta)
		}

		env, _ := get(p, "Environment", "Variables").(map[string]any)
		if got := env["LATCH_LAMBDA_HANDLER"]; got != wantHandlers[name] {
			t.Errorf("%s LATCH_LAMBDA_HANDLER = %v, want %s", name, got, wantHandlers[name])
		}
		if got := getString(env, "LATCH_STORE", "Fn::Sub"); !strings.HasPrefix(got, "dynamodb://${"+table+"}") {
			t.Errorf("%s LATCH_STORE = %v, want the table %s", name, env["LATCH_STORE"], table)
		}
		for _, k := range []string{"LATCH_ISSUER", "LATCH_LOG_LEVEL"} {
			if env[k] == nil {
				t.Errorf("%s sets no %s", name, k)
			}
		}
		var names []string
		for k := range env {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if !known[k] {
				t.Errorf("%s sets %s, which cmd/latch-lambda does not read (it reads %v)", name, k, sortedKeys(known))
			}
		}
	}

	// The build: CodeUri is the module root and the Makefile builds every
	// function the way the README says.
	if codeURI, _ := same["CodeUri"].(string); codeURI == "" {
		t.Errorf("CodeUri = %v, want the module root", same["CodeUri"])
	} else if dir, _ := filepath.Abs(codeURI); dir != root {
		t.Errorf("CodeUri %q is %s, not the module root %s", codeURI, dir, root)
	}
	if got := getString(firstMeta, "BuildMethod"); got != "makefile" {
		t.Fatalf("Metadata.BuildMethod = %q, want makefile", got)
	}
	if dir, _ := filepath.Abs(getString(firstMeta, "ProjectRootDirectory")); dir != root {
		t.Errorf("Metadata.ProjectRootDirectory is %s, not the module root %s", dir, root)
	}
	makefile, err := filepath.Abs(filepath.Join(getString(firstMeta, "ContextPath"), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatalf("Metadata.ContextPath: %v", err)
	}
	flags := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-trimpath", "-tags lambda.norpc,latch.lambda", `-ldflags "-s -w"`, "/bootstrap", "./cmd/latch-lambda"}
	if _, err := exec.LookPath("make"); err != nil {
		t.Logf("make is not installed: checking %s as text", makefile)
		for _, name := range fns {
			if !bytes.Contains(mk, []byte(name)) {
				t.Errorf("%s names no %s (target build-%s)", makefile, name, name)
			}
		}
		for _, f := range flags {
			if !bytes.Contains(mk, []byte(f)) {
				t.Errorf("%s does not build with %s", makefile, f)
			}
		}
		return
	}
	// What sam build runs, as a dry run: make prints the commands of the
	// target (in the module root, as in SAM's scratch copy) and runs none.
	for _, name := range fns {
		cmd := exec.Command("make", "--dry-run", "--makefile", makefile, "build-"+name, "ARTIFACTS_DIR="+t.TempDir())
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("make build-%s: %v\n%s", name, err, out)
			continue
		}
		for _, f := range flags {
			if !bytes.Contains(out, []byte(f)) {
				t.Errorf("make build-%s does not build with %s:\n%s", name, f, out)
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestStreamMappings: a record that fails is isolated, retried a bounded
// number of times and parked, never left blocking its shard.
func TestStreamMappings(t *testing.T) {
	tp := loadTemplate(t)
	table := latchTable(t, tp)
	tables := map[string]bool{}
	for _, name := range tp.ofType("AWS::Lambda::EventSourceMapping") {
		p := tp.resources[name].Properties
		src, attr := getAtt(p["EventSourceArn"])
		if attr != "StreamArn" || tp.resources[src].Type != "AWS::DynamoDB::Table" {
			t.Errorf("%s EventSourceArn = %v, want Fn::GetAtt [Table, StreamArn]", name, p["EventSourceArn"])
			continue
		}
		tables[src] = true
		if fn := refName(p["FunctionName"]); fn != "StreamFunction" {
			t.Errorf("%s FunctionName = %v, want Ref StreamFunction", name, p["FunctionName"])
		}
		if !slices.Contains(asStrings(p["FunctionResponseTypes"]), "ReportBatchItemFailures") {
			t.Errorf("%s FunctionResponseTypes = %v, want ReportBatchItemFailures", name, p["FunctionResponseTypes"])
		}
		if p["BisectBatchOnFunctionError"] != true {
			t.Errorf("%s BisectBatchOnFunctionError = %v, want true", name, p["BisectBatchOnFunctionError"])
		}
		if n, ok := asInt(p["MaximumRetryAttempts"]); !ok || n < 0 || n > 100 {
			t.Errorf("%s MaximumRetryAttempts = %v, want a small bound (the default, -1, retries until the record expires)", name, p["MaximumRetryAttempts"])
		}
		if got := getString(p, "StartingPosition"); got != "TRIM_HORIZON" {
			t.Errorf("%s StartingPosition = %q, want TRIM_HORIZON", name, got)
		}
		q, attr := getAtt(get(p, "DestinationConfig", "OnFailure", "Destination"))
		if attr != "Arn" || tp.resources[q].Type != "AWS::SQS::Queue" {
			t.Errorf("%s has no SQS on-failure destination (DestinationConfig.OnFailure.Destination = %v)", name, get(p, "DestinationConfig", "OnFailure", "Destination"))
			continue
		}
		if !grants(t, tp, "StreamFunction", "sqs:SendMessage", q) {
			t.Errorf("StreamFunction may not sqs:SendMessage to %s, %s's on-failure destination", q, name)
		}
		if !grants(t, tp, "StreamFunction", "dynamodb:GetRecords", src) {
			t.Errorf("StreamFunction may not read the stream of %s", src)
		}
	}
	for _, want := range []string{table, "PaystubsTable"} {
		if !tables[want] {
			t.Errorf("no event source mapping reads the stream of %s", want)
		}
	}
	// SAM events would attach AWSLambdaDynamoDBExecutionRole (every stream).
	for _, name := range tp.ofType("AWS::Serverless::Function") {
		if ev, ok := tp.resources[name].Properties["Events"]; ok {
			t.Errorf("%s has SAM Events %v; use AWS::Lambda::EventSourceMapping and scoped permissions", name, ev)
		}
	}
}

// statement is one IAM statement of a function's policies.
type statement struct {
	Effect    string
	Actions   []string
	Resources []any
}

// statements returns every IAM statement a function's Policies hold.
func statements(t *testing.T, tp *tmpl, fn string) []statement {
	t.Helper()
	var out []statement
	for i, pol := range asList(tp.function(t, fn)["Policies"]) {
		doc, ok := pol.(map[string]any)
		if !ok || doc["Statement"] == nil {
			t.Errorf("%s Policies[%d] = %v: write inline policy documents (SAM templates and managed policies hide what they grant)", fn, i, pol)
			continue
		}
		for _, s := range asList(doc["Statement"]) {
			st := statement{Effect: getString(s, "Effect"), Actions: asStrings(get(s, "Action"))}
			res := get(s, "Resource")
			if l, ok := res.([]any); ok {
				st.Resources = l
			} else {
				st.Resources = []any{res}
			}
			if get(s, "NotAction") != nil || get(s, "NotResource") != nil {
				t.Errorf("%s: a statement with NotAction or NotResource", fn)
			}
			out = append(out, st)
		}
	}
	return out
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// grants reports whether fn's policies allow action on resource res (by
// Fn::GetAtt of any attribute).
func grants(t *testing.T, tp *tmpl, fn, action, res string) bool {
	for _, st := range statements(t, tp, fn) {
		if st.Effect != "Allow" || !slices.Contains(st.Actions, action) {
			continue
		}
		for _, r := range st.Resources {
			if name, _ := getAtt(r); name == res {
				return true
			}
		}
	}
	return false
}

// iamForAPI maps each method of dynamodb.API (what the store calls) to the
// IAM actions it needs. A new method of the interface fails the test until
// it is added here and to the functions' policies.
var iamForAPI = map[string][]string{
	"GetItem":       {"dynamodb:GetItem"},
	"Query":         {"dynamodb:Query"},
	"BatchGetItem":  {"dynamodb:BatchGetItem"}, // ListFamilies; the authorizer never lists
	"PutItem":       {"dynamodb:PutItem"},
	"UpdateItem":    {"dynamodb:UpdateItem"},
	"DeleteItem":    {"dynamodb:DeleteItem"},
	"DescribeTable": {"dynamodb:DescribeTable"}, // Ping, at every cold start
	// A transaction is authorized by the actions of its parts; there is no
	// IAM action dynamodb:TransactWriteItems.
	"TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
	// Only ListClients("") scans, for the admin API, which the REST API does
	// not route to the token function: not granted.
	"Scan": nil,
}

// readActions are what the authorizer may do to the table.
var readActions = []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"}

// TestIAM: least privilege. No wildcard actions or resources for DynamoDB;
// the read-write functions hold exactly what the store calls; the
// authorizer holds reads only.
func TestIAM(t *testing.T) {
	tp := loadTemplate(t)
	table := latchTable(t, tp)

	apiType := reflect.TypeFor[dynamodb.API]()
	needed := map[string]bool{}
	for i := range apiType.NumMethod() {
		m := apiType.Method(i).Name
		actions, ok := iamForAPI[m]
		if !ok {
			t.Errorf("dynamodb.API has a method %s that this test does not know: decide its IAM actions (iamForAPI) and grant them in %s", m, templateFile)
		}
		for _, a := range actions {
			needed[a] = true
		}
	}

	for _, kind := range []string{"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		if l := tp.ofType(kind); len(l) > 0 {
			t.Errorf("%s resources %v: this test checks function Policies only; extend it", kind, l)
		}
	}
	for _, fn := range tp.ofType("AWS::Serverless::Function") {
		onTable := map[string]bool{}
		for _, st := range statements(t, tp, fn) {
			if st.Effect != "Allow" {
				continue
			}
			for _, a := range st.Actions {
				if a == "*" || strings.HasSuffix(a, ":*") || strings.Contains(a, "*") {
					t.Errorf("%s grants the wildcard action %q", fn, a)
				}
				if !strings.HasPrefix(strings.ToLower(a), "dynamodb:") {
					continue
				}
				for _, r := range st.Resources {
					if s, ok := r.(string); ok && strings.Contains(s, "*") {
						t.Errorf("%s grants %s on %q: name the table", fn, a, s)
					}
					if name, attr := getAtt(r); name == table && attr == "Arn" {
						onTable[a] = true
					}
				}
			}
		}
		got := sortedKeys(onTable)
		if fn == "AuthorizerFunction" {
			for _, a := range got {
				if !slices.Contains(readActions, a) {
					t.Errorf("AuthorizerFunction may %s on the Latch table; it only reads (%v)", a, readActions)
				}
			}
			for _, a := range readActions {
				if !onTable[a] {
					t.Errorf("AuthorizerFunction may not %s on the Latch table, which it needs", a)
				}
			}
			continue
		}
		if want := sortedKeys(needed); !slices.Equal(got, want) {
			t.Errorf("%s may %v on the Latch table; the store needs exactly %v", fn, got, want)
		}
	}
}

// methodPath returns the full path of an AWS::ApiGateway::Method.
func methodPath(t *testing.T, tp *tmpl, method string) string {
	p := tp.resources[method].Properties
	id := refName(p["ResourceId"])
	var segs []string
	for id != "" {
		r, ok := tp.resources[id]
		if !ok || r.Type != "AWS::ApiGateway::Resource" {
			t.Errorf("%s: %q is not an AWS::ApiGateway::Resource", method, id)
			return ""
		}
		segs = append([]string{getString(r.Properties, "PathPart")}, segs...)
		parent := r.Properties["ParentId"]
		if res, attr := getAtt(parent); attr == "RootResourceId" && tp.resources[res].Type == "AWS::ApiGateway::RestApi" {
			break
		}
		id = refName(parent)
		if id == "" {
			t.Errorf("%s: resource parent %v is neither a Resource nor the RestApi's root", method, parent)
			return ""
		}
	}
	return "/" + strings.Join(segs, "/")
}

// TestAPI: the payroll routes are behind the authorizer, the token routes
// are not, and the authorizer caches by token, method and path.
func TestAPI(t *testing.T) {
	tp := loadTemplate(t)
	auths := tp.ofType("AWS::ApiGateway::Authorizer")
	if len(auths) != 1 {
		t.Fatalf("authorizers %v, want one", auths)
	}
	auth := auths[0]
	ap := tp.resources[auth].Properties
	if got := getString(ap, "Type"); got != "REQUEST" {
		t.Errorf("%s Type = %q, want REQUEST", auth, got)
	}
	var sources []string
	for _, s := range strings.Split(getString(ap, "IdentitySource"), ",") {
		sources = append(sources, strings.TrimSpace(s))
	}
	// Latch may answer with a document for the requested method and path
	// alone; a cache keyed by the token alone would reuse it for other paths.
	for _, want := range []string{"method.request.header.Authorization", "context.httpMethod", "context.path"} {
		if !slices.Contains(sources, want) {
			t.Errorf("%s IdentitySource %v lacks %s", auth, sources, want)
		}
	}
	ttlParam := refName(ap["AuthorizerResultTtlInSeconds"])
	if ttlParam == "" {
		t.Errorf("%s AuthorizerResultTtlInSeconds = %v, want Ref of a parameter", auth, ap["AuthorizerResultTtlInSeconds"])
	} else {
		def, _ := asInt(get(tp.params[ttlParam], "Default"))
		maxTTL, _ := asInt(get(tp.params[ttlParam], "MaxValue"))
		minTTL, okMin := asInt(get(tp.params[ttlParam], "MinValue"))
		if def != 60 || maxTTL != 3600 || !okMin || minTTL != 0 {
			t.Errorf("parameter %s: Default %v, MinValue %v, MaxValue %v; want 60 within 0..3600", ttlParam, def, minTTL, maxTTL)
		}
	}
	if !strings.Contains(getString(ap, "AuthorizerUri", "Fn::Sub"), "${AuthorizerFunction.Arn}") {
		t.Errorf("%s AuthorizerUri = %v, want AuthorizerFunction", auth, ap["AuthorizerUri"])
	}

	routes := map[string]string{} // "METHOD /path" -> method resource
	for _, m := range tp.ofType("AWS::ApiGateway::Method") {
		p := tp.resources[m].Properties
		path := methodPath(t, tp, m)
		route := getString(p, "HttpMethod") + " " + path
		routes[route] = m
		authType, authID := getString(p, "AuthorizationType"), refName(p["AuthorizerId"])
		uri := getString(p, "Integration", "Uri", "Fn::Sub")
		switch {
		case strings.HasPrefix(path, "/api/"):
			if authType != "CUSTOM" || authID != auth {
				t.Errorf("%s (%s): AuthorizationType %q, AuthorizerId %q; want CUSTOM, %s", route, m, authType, authID, auth)
			}
		case strings.HasPrefix(path, "/oauth2/"), strings.HasPrefix(path, "/.well-known/"):
			if authType != "NONE" || authID != "" {
				t.Errorf("%s (%s): AuthorizationType %q, AuthorizerId %q; the token endpoints authenticate clients themselves", route, m, authType, authID)
			}
			if getString(p, "Integration", "Type") != "AWS_PROXY" || !strings.Contains(uri, "${TokenFunction.Arn}") {
				t.Errorf("%s (%s): want an AWS_PROXY integration of TokenFunction", route, m)
			}
		default:
			t.Errorf("%s (%s): a route this test does not know", route, m)
		}
	}
	for _, want := range []string{"ANY /oauth2/{proxy+}", "GET /.well-known/{proxy+}", "GET /api/employee/{employee_id}/paystubs", "GET /api/paystubs/{id}"} {
		if routes[want] == "" {
			t.Errorf("no method for %s (routes: %v)", want, sortedKeys(keysOf(routes)))
		}
	}

	// API Gateway may invoke the two functions, from this API only.
	for _, fn := range []string{"TokenFunction", "AuthorizerFunction"} {
		n := 0
		for _, perm := range tp.ofType("AWS::Lambda::Permission") {
			p := tp.resources[perm].Properties
			if name, _ := getAtt(p["FunctionName"]); name != fn && refName(p["FunctionName"]) != fn {
				continue
			}
			n++
			if getString(p, "Principal") != "apigateway.amazonaws.com" {
				t.Errorf("%s: Principal %q", perm, getString(p, "Principal"))
			}
			if src := getString(p, "SourceArn", "Fn::Sub"); !strings.Contains(src, ":${RestApi}/") {
				t.Errorf("%s: SourceArn %v is not scoped to the RestApi", perm, p["SourceArn"])
			}
		}
		if n == 0 {
			t.Errorf("no AWS::Lambda::Permission lets API Gateway invoke %s", fn)
		}
	}

	outputs, _ := tp.doc["Outputs"].(map[string]any)
	for _, o := range []string{"ApiUrl", "Issuer", "LatchTableName", "StreamFailureQueueUrl"} {
		if outputs[o] == nil {
			t.Errorf("no output %s", o)
		}
	}
}

func keysOf(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// grantRule is the part of a stream grant rule this test reads.
type grantRule struct {
	Table     string   `json:"table"`
	Org       string   `json:"org"`
	Principal string   `json:"principal"`
	Allow     []string `json:"allow"`
}

var ruleVar = regexp.MustCompile(`\{[A-Za-z0-9_.-]+\}`)

// defaultGrantRules returns the stream function's default rules, with
// ${PaystubsTable} replaced by the table's default name.
func defaultGrantRules(t *testing.T, tp *tmpl) []grantRule {
	t.Helper()
	v := tp.function(t, "StreamFunction")["Environment"]
	l, ok := get(v, "Variables", "LATCH_GRANT_RULES", "Fn::If").([]any)
	if !ok || len(l) != 3 {
		t.Fatalf("StreamFunction LATCH_GRANT_RULES is not Fn::If [HasGrantRules, parameter, default rules]")
	}
	text := getString(l[2], "Fn::Sub")
	table := getString(tp.params[refName(tp.resources["PaystubsTable"].Properties["TableName"])], "Default")
	text = strings.ReplaceAll(text, "${PaystubsTable}", table)
	var rules []grantRule
	if err := json.Unmarshal([]byte(text), &rules); err != nil {
		t.Fatalf("default LATCH_GRANT_RULES %q: %v", text, err)
	}
	want := []grantRule{{Table: "paystubs", Org: "payroll", Principal: "{userId}", Allow: []string{"GET /api/paystubs/{id}"}}}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("default LATCH_GRANT_RULES = %+v, want the seed's paystubs rule %+v", rules, want)
	}
	return rules
}

// TestPayrollRoutesHaveStatements: every route behind the authorizer is one
// that a payroll user of examples/latch.yaml can be allowed, so that the
// example is not a wall of 403s. A request is allowed only when every layer
// that exists allows it: the principal's statements (its own, its roles',
// and the grants the stream function writes by the default grant rules) and,
// for the payroll app's tokens, the statements of their scopes.
func TestPayrollRoutesHaveStatements(t *testing.T) {
	tp := loadTemplate(t)
	raw, err := os.ReadFile(filepath.Join(moduleRoot(t), "examples", "latch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(raw, func(string) string { return "an example secret of thirty-two characters or more" })
	if err != nil {
		t.Fatalf("examples/latch.yaml: %v", err)
	}
	const org = "payroll"
	var principal, scoped []string
	for _, r := range f.Roles {
		if r.Org == org {
			principal = append(principal, r.Allow...)
		}
	}
	for _, u := range f.Users {
		if u.Org == org {
			principal = append(principal, u.Allow...)
		}
	}
	for _, r := range defaultGrantRules(t, tp) {
		if r.Org == org {
			for _, s := range r.Allow {
				principal = append(principal, ruleVar.ReplaceAllString(s, "x")) // a record's attributes
			}
		}
	}
	scopes := map[string]bool{}
	for _, c := range f.Clients {
		if c.Org == org {
			for _, s := range c.Scopes {
				scopes[s] = true
			}
		}
	}
	for _, a := range f.Audiences {
		for scope, list := range a.Scopes {
			if scopes[a.ID+"/"+scope] {
				scoped = append(scoped, list...)
			}
		}
	}
	if len(principal) == 0 {
		t.Fatalf("examples/latch.yaml has no allow statements for the users of org %s", org)
	}
	layers := []struct {
		name  string
		stmts []policy.Statement
		text  []string
	}{{name: "the users' and roles' statements and the grant rules", text: principal}, {name: "the payroll clients' scopes", text: scoped}}
	for i := range layers {
		for _, s := range layers[i].text {
			st, err := policy.Parse(s)
			if err != nil {
				t.Fatalf("statement %q: %v", s, err)
			}
			layers[i].stmts = append(layers[i].stmts, st)
		}
	}
	n := 0
	for _, m := range tp.ofType("AWS::ApiGateway::Method") {
		path := methodPath(t, tp, m)
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		n++
		method := getString(tp.resources[m].Properties, "HttpMethod")
		for _, l := range layers {
			if len(l.stmts) == 0 {
				continue // a layer that does not exist allows
			}
			if !slices.ContainsFunc(l.stmts, func(st policy.Statement) bool { return mayAllow(st, method, path) }) {
				t.Errorf("%s %s (%s): nothing in %s of org %s (examples/latch.yaml, LATCH_GRANT_RULES) allows it: %v", method, path, m, l.name, org, l.text)
			}
		}
	}
	if n == 0 {
		t.Errorf("no payroll routes under /api/")
	}
}

// mayAllow reports whether st allows method on some instance of the route
// path (whose {name} segments stand for any one segment).
func mayAllow(st policy.Statement, method, route string) bool {
	if !st.AllMethods() && !slices.Contains(st.Methods, method) {
		return false
	}
	pat := strings.Split(strings.TrimPrefix(st.Path, "/"), "/")
	segs := strings.Split(strings.TrimPrefix(route, "/"), "/")
	for i, p := range pat {
		if p == "**" {
			return true
		}
		if i >= len(segs) {
			return false
		}
		variable := strings.HasPrefix(segs[i], "{")
		if p != "*" && !strings.HasPrefix(p, "{") && !variable && p != segs[i] {
			return false
		}
	}
	return len(pat) == len(segs)
}

// TestCfnLint runs cfn-lint, which knows every resource type's schema and
// SAM's transform, when it is installed.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--", templateFile)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode()&^(4|8) == 0:
		t.Logf("cfn-lint warnings:\n%s", out) // warnings (4) and informational (8) only
	default:
		t.Errorf("cfn-lint %s: %v\n%s", templateFile, err, out)
	}
}

// TestSharedCacheAndVPC: a stack can give every function a Redis (the
// shared policy cache and the token function's brute-force counters) and
// the VPC to reach it; without them the functions run outside any VPC with
// no LATCH_CACHE at all (not an empty one). The URL may hold a password:
// it is NoEcho.
func TestSharedCacheAndVPC(t *testing.T) {
	tp := loadTemplate(t)
	cacheURL, _ := tp.params["CacheURL"].(map[string]any)
	if cacheURL == nil || cacheURL["Default"] != "" || cacheURL["NoEcho"] != true {
		t.Errorf("parameter CacheURL = %v, want default \"\" and NoEcho", cacheURL)
	}
	for _, name := range []string{"SubnetIds", "SecurityGroupIds"} {
		if p, _ := tp.params[name].(map[string]any); p == nil || p["Type"] != "CommaDelimitedList" || p["Default"] != "" {
			t.Errorf("parameter %s = %v, want a CommaDelimitedList defaulting to empty", name, p)
		}
	}
	notEmpty := func(cond string, want any) {
		t.Helper()
		got := get(tp.conditions, cond, "Fn::Not")
		if !reflect.DeepEqual(got, []any{map[string]any{"Fn::Equals": []any{want, ""}}}) {
			t.Errorf("condition %s = %v, want Fn::Not Fn::Equals [%v, \"\"]", cond, got, want)
		}
	}
	notEmpty("HasCache", map[string]any{"Ref": "CacheURL"})
	notEmpty("HasVpc", map[string]any{"Fn::Join": []any{"", map[string]any{"Ref": "SubnetIds"}}})

	noValue := map[string]any{"Ref": "AWS::NoValue"}
	wantCache := map[string]any{"Fn::If": []any{"HasCache", map[string]any{"Ref": "CacheURL"}, noValue}}
	if got := get(tp.globals, "Environment", "Variables", "LATCH_CACHE"); !reflect.DeepEqual(got, wantCache) {
		t.Errorf("Globals LATCH_CACHE = %v, want %v", got, wantCache)
	}
	wantVPC := map[string]any{"Fn::If": []any{"HasVpc",
		map[string]any{"SubnetIds": map[string]any{"Ref": "SubnetIds"}, "SecurityGroupIds": map[string]any{"Ref": "SecurityGroupIds"}}, noValue}}
	if got := tp.globals["VpcConfig"]; !reflect.DeepEqual(got, wantVPC) {
		t.Errorf("Globals VpcConfig = %v, want %v", got, wantVPC)
	}
	for _, name := range tp.ofType("AWS::Serverless::Function") {
		p := tp.resources[name].Properties // the function's own, before the Globals
		if p["VpcConfig"] != nil || get(p, "Environment", "Variables", "LATCH_CACHE") != nil {
			t.Errorf("%s overrides the Globals' VpcConfig or LATCH_CACHE", name)
		}
	}
}
