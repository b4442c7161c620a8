package graph

import (
	"encoding/json"
	"reflect"
	"testing"
)

// assignedPage is an assigned_users page as the emulator (and Meta) sends
// it: the system user with MANAGE and its permitted tasks, and cursors.
var assignedPage = []byte(`{"data":[{"id":"100900900","name":"waba-worker system user","tasks":["MANAGE"],"permitted_tasks":["MANAGE","DEVELOP","MANAGE_TEMPLATES","MANAGE_PHONE","VIEW_COST","MANAGE_EXTENSIONS","VIEW_PHONE_ASSETS","MANAGE_PHONE_ASSETS","VIEW_TEMPLATES","MESSAGING","VIEW_INSIGHTS","MANAGE_EVENTS"]}],"paging":{"cursors":{"before":"QVFIUmFiY2RlZg","after":"QVFIUmFiY2RlZg"}}}`)

// decodeBody (segmentio/encoding) decodes what Graph sends as encoding/json
// does: the same values, and an error for the same bodies.
func TestDecodeBodyAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	pages := [][]byte{
		assignedPage,
		[]byte(`{"data":[]}`),
		[]byte(`{"data":null}`),
		[]byte(`{}`),
		[]byte(`{"DATA":[{"ID":"1","Tasks":["DEVELOP"]}],"paging":{"next":"https://x/y","cursors":{"after":"A"}}}`),
		[]byte(`{"data":[{"id":"1","tasks":null,"extra":{"deep":[1,2,{"x":"\u00e9\n"}]}}],"unknown":true}`),
		[]byte(`{"data":[{"id":1}]}`),
		[]byte(`{"data":[{"id":"1"}]`),
		[]byte(`<html>`),
		[]byte(``),
		[]byte(`{"data":[{"id":"1"}]} trailing`),
	}
	for _, body := range pages {
		var got, want page[AssignedUser]
		gotErr, wantErr := decodeBody(body, &got), json.Unmarshal(body, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, encoding/json's %v", body, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, encoding/json's %+v", body, got, want)
		}
	}
	for _, body := range []string{`{"success":true}`, `{"success":"true"}`, `{"success":1}`, `{"success":false}`, `{"Success":true}`, `{}`, `{"success":null}`} {
		var got, want successJSON
		gotErr, wantErr := decodeBody([]byte(body), &got), json.Unmarshal([]byte(body), &want)
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v %v, encoding/json's %+v %v", body, got, gotErr, want, wantErr)
		}
	}
}

// decodeBody decodes what encoding/json decodes (escapes, case-insensitive
// names, unknown fields) on any input where both decode; where they part on
// an error, TestDecodeBodyAgreesWithEncodingJSON pins the bodies Graph sends.
func FuzzDecodeBodyAgreesWithEncodingJSON(f *testing.F) {
	f.Add(assignedPage)
	f.Add([]byte(`{"data":[{"id":"1","name":"caf\u00e9 \"x\"","tasks":["MANAGE","\u0044EVELOP"]}],"paging":{"next":"n","cursors":{"after":"A\/B"}}}`))
	f.Add([]byte(`{"data":[{"id":"1"}]} x`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got, want page[AssignedUser]
		gotErr, wantErr := decodeBody(body, &got), json.Unmarshal(body, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Skip("the decoders part on an error")
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, encoding/json's %+v", body, got, want)
		}
	})
}

// An assigned_users page, with the decoder in use and with encoding/json.
func BenchmarkDecodeBody(b *testing.B) {
	b.Run("segmentio", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p page[AssignedUser]
			if !p.decode(assignedPage) {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p page[AssignedUser]
			if json.Unmarshal(assignedPage, &p) != nil {
				b.Fatal("not decoded")
			}
		}
	})
}
