package capp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Names of the descriptors inside a .car.
const (
	artifactsFile = "artifacts.xml"
	artifactFile  = "artifact.xml"
)

// The XML shapes Read decodes. Tags carry no namespace, so elements and
// attributes match by local name whatever namespace a tool wrote them in.

type dependencyXML struct {
	Artifact   string `xml:"artifact,attr"`
	Version    string `xml:"version,attr"`
	Include    string `xml:"include,attr"`
	ServerRole string `xml:"serverRole,attr"`
}

type applicationXML struct {
	Name         string          `xml:"name,attr"`
	Version      string          `xml:"version,attr"`
	Type         string          `xml:"type,attr"`
	Dependencies []dependencyXML `xml:"dependency"`
}

// artifactsDoc is artifacts.xml: <artifacts><artifact type=carbon/application>
// as MI's tooling writes it, or the <artifact> element alone.
type artifactsDoc struct {
	XMLName xml.Name
	applicationXML
	Artifacts []applicationXML `xml:"artifact"`
}

type artifactXML struct {
	XMLName    xml.Name
	Name       string `xml:"name,attr"`
	Version    string `xml:"version,attr"`
	Type       string `xml:"type,attr"`
	ServerRole string `xml:"serverRole,attr"`
	File       string `xml:"file"`
}

type paramXML struct {
	Name  string `xml:"name,attr"`
	Value string `xml:",chardata"`
}

// synapseXML is the part of an artifact's own XML Read looks at: the root's
// name, an API's context, an inbound endpoint's protocol, class and
// parameters.
type synapseXML struct {
	XMLName    xml.Name
	Name       string     `xml:"name,attr"`
	Context    string     `xml:"context,attr"`
	Version    string     `xml:"version,attr"` // an API's, when versioned
	Protocol   string     `xml:"protocol,attr"`
	Class      string     `xml:"class,attr"`
	Parameters []paramXML `xml:"parameters>parameter"`
}

func parseApplication(src []byte) (applicationXML, error) {
	var doc artifactsDoc
	if err := decodeXML(src, &doc); err != nil {
		return applicationXML{}, err
	}
	var app applicationXML
	switch doc.XMLName.Local {
	case "artifact":
		app = doc.applicationXML
	case "artifacts":
		found := false
		for _, a := range doc.Artifacts {
			if strings.TrimSpace(a.Type) == TypeApplication {
				app, found = a, true
				break
			}
		}
		if !found {
			return app, fmt.Errorf("no <artifact type=%q> in <artifacts>", TypeApplication)
		}
	default:
		return app, fmt.Errorf("the root element is <%s>, not <artifacts>", doc.XMLName.Local)
	}
	app.Name, app.Version, app.Type = strings.TrimSpace(app.Name), strings.TrimSpace(app.Version), strings.TrimSpace(app.Type)
	switch {
	case app.Type != TypeApplication:
		return app, fmt.Errorf("the application artifact has type %q, not %q", app.Type, TypeApplication)
	case app.Name == "":
		return app, errors.New("the application artifact has no name")
	case strings.ContainsAny(app.Name+app.Version, "/\\\x00"):
		return app, fmt.Errorf("application name %q or version %q holds a path separator", app.Name, app.Version)
	}
	for i := range app.Dependencies {
		d := &app.Dependencies[i]
		d.Artifact, d.Version = strings.TrimSpace(d.Artifact), strings.TrimSpace(d.Version)
		if d.Artifact == "" {
			return app, fmt.Errorf("dependency %d has no artifact name", i+1)
		}
	}
	return app, nil
}

func parseArtifact(src []byte) (artifactXML, error) {
	var a artifactXML
	if err := decodeXML(src, &a); err != nil {
		return a, err
	}
	a.Name, a.Version, a.Type, a.ServerRole, a.File = strings.TrimSpace(a.Name), strings.TrimSpace(a.Version),
		strings.TrimSpace(a.Type), strings.TrimSpace(a.ServerRole), strings.TrimSpace(a.File)
	switch {
	case a.XMLName.Local != "artifact":
		return a, fmt.Errorf("the root element is <%s>, not <artifact>", a.XMLName.Local)
	case a.Name == "":
		return a, errors.New("<artifact> has no name")
	case a.Type == "":
		return a, fmt.Errorf("artifact %s has no type", a.Name)
	case strings.ContainsAny(a.File, "/\\\x00") || a.File == "." || a.File == "..":
		return a, fmt.Errorf("artifact %s: <file> %q must name a file in the artifact's own folder", a.Name, a.File)
	}
	return a, nil
}

func parseSynapse(src []byte) (synapseXML, error) {
	var s synapseXML
	err := decodeXML(src, &s)
	return s, err
}

var utf8BOM = []byte("\xef\xbb\xbf")

// malformed says where and how a document is not XML, in its own terms:
// the line, and what is wrong there ("XML syntax error on line 1:
// unexpected EOF" is a document cut short).
func malformed(err error) error {
	var syntax *xml.SyntaxError
	switch {
	case errors.As(err, &syntax) && syntax.Msg == "unexpected EOF":
		return fmt.Errorf("malformed XML: it ends on line %d before its elements do (cut short)", syntax.Line)
	case errors.As(err, &syntax):
		return fmt.Errorf("malformed XML on line %d: %s", syntax.Line, syntax.Msg)
	}
	return fmt.Errorf("malformed XML: %w", err)
}

// decodeXML decodes one XML document strictly: a UTF-8 BOM is skipped,
// CRLF is plain whitespace to XML, an encoding other than UTF-8, US-ASCII or
// ISO-8859-1 is refused, and nothing but comments, processing instructions
// and whitespace may follow the root element.
func decodeXML(src []byte, v any) error {
	src = bytes.TrimPrefix(src, utf8BOM)
	d := xml.NewDecoder(bytes.NewReader(src))
	d.CharsetReader = charsetReader
	if err := d.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("malformed XML: the document is empty")
		}
		return malformed(err)
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return malformed(err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("malformed XML: text after the root element")
			}
		default:
			return errors.New("malformed XML: content after the root element")
		}
	}
}

// charsetReader accepts the single-byte encodings an XML declaration may
// name besides UTF-8; anything else is refused rather than misread.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "l1":
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q (save the file as UTF-8)", label)
}
