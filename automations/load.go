package automations

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Problem is one thing wrong in an automations file.
type Problem struct {
	// File is the file's path (or the name given to LoadBytes).
	File string
	// Line and Column locate the problem, 1-based; 0 when the whole file is meant.
	Line, Column int
	// Automation is the id of the automation concerned, "#n" for the n-th
	// one of the file when it has no usable id, and "" for the file as a whole.
	Automation string
	// Msg says what is wrong.
	Msg string
}

// String formats the problem as "file:line:col: automation <id>: msg".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	}
	b.WriteString(": ")
	if p.Automation != "" {
		b.WriteString("automation ")
		b.WriteString(p.Automation)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// LoadError holds every problem found while loading automations; nothing
// was loaded.
type LoadError struct {
	Problems []Problem
}

// Error lists the problems one per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadOptions tune a load. The zero value loads without warnings.
type LoadOptions struct {
	// Known reports whether a device has been seen; when set, every
	// reference to a device it does not know is a warning (not an error: the
	// device may simply not have spoken yet).
	Known func(device string) bool
	// Attrs returns the attributes a device is known to have; when set,
	// an expression reading another that is a letter or two from one of
	// them (or from true, false, nil) is a warning: a likely typo.
	Attrs func(device string) []string
	// Channels are the notification channels there are; when set, a notify
	// action naming another is a problem.
	Channels []string
}

// Load reads automations from a YAML file, or from every *.yaml and *.yml
// file of a folder (not its subfolders) in name order. Ids are unique across
// all files. On any problem it returns a *LoadError listing all of them.
func Load(path string) (*Set, error) { return LoadOptions{}.Load(path) }

// LoadBytes reads automations from one YAML document held in memory; name
// is used in problems as the file name.
func LoadBytes(name string, data []byte) (*Set, error) { return LoadOptions{}.LoadBytes(name, data) }

// Load reads automations and scenes from a file or folder (see Load).
func (o LoadOptions) Load(path string) (*Set, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load automations: %w", err)
	}
	files := []string{path}
	if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("load automations: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		slices.Sort(files)
	}
	c := newCollector(o)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			c.problems = append(c.problems, Problem{File: f, Msg: err.Error()})
			continue
		}
		c.file(f, data)
	}
	return c.set()
}

// LoadBytes reads automations and scenes from one YAML document in memory.
func (o LoadOptions) LoadBytes(name string, data []byte) (*Set, error) {
	return o.LoadDocs(Doc{Name: name, Data: data})
}

// Doc is a YAML document held in memory, and the file name its problems
// and its automations are given.
type Doc struct {
	Name string
	Data []byte
}

// LoadDocs reads automations and scenes from documents in memory, in
// order, as Load reads the files of a folder: ids are unique across them.
func (o LoadOptions) LoadDocs(docs ...Doc) (*Set, error) {
	c := newCollector(o)
	for _, d := range docs {
		c.file(d.Name, d.Data)
	}
	return c.set()
}

// collector gathers automations, scenes and problems across the files of
// one load.
type collector struct {
	opts      LoadOptions
	autos     []*Automation
	ids       map[string]*Automation
	scenes    map[string]*scene
	sceneRefs []sceneRef
	problems  []Problem
	warnings  []Problem
	programs  *compiler
	sunUser   string // the first automation (or scene) that calls sunrise() or sunset()
}

// callsSun notes that who calls sunrise() or sunset(), which fail without
// the hub's location: the engine warns of it when it takes the set.
func (c *collector) callsSun(who string) {
	if c.sunUser == "" {
		c.sunUser = who
	}
}

func newCollector(o LoadOptions) *collector {
	return &collector{opts: o, ids: map[string]*Automation{}, scenes: map[string]*scene{}, programs: newCompiler()}
}

func (c *collector) set() (*Set, error) {
	c.checkScenes()
	if len(c.problems) > 0 {
		return nil, &LoadError{Problems: c.problems}
	}
	for _, a := range c.autos {
		a.Hash = fingerprint(a, c.scenes)
	}
	s := newSet(c.autos, c.scenes)
	s.warnings = c.warnings
	s.sunUser = c.sunUser
	return s, nil
}

// file parses one file and reads every automation and scene it holds. Its
// problems are listed in the order of the file.
func (c *collector) file(name string, data []byte) {
	start, wstart := len(c.problems), len(c.warnings)
	defer func() {
		byPlace := func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		}
		slices.SortStableFunc(c.problems[start:], byPlace)
		slices.SortStableFunc(c.warnings[wstart:], byPlace)
	}()
	f, err := parseYAML(data)
	if err != nil {
		p := Problem{File: name, Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			p.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				p.Line, p.Column = tk.Position.Line, tk.Position.Column
				p.Automation = guessAutomation(data, p.Line)
			}
		}
		c.problems = append(c.problems, p)
		return
	}
	l := &loader{c: c, file: name, anchors: anchors(f), budget: maxNodes}
	lines := strings.Split(string(data), "\n")
	for _, doc := range f.Docs {
		body := l.resolve(doc.Body)
		switch body := body.(type) {
		case nil, *ast.NullNode:
			// An empty file (or one with only comments) holds no automations.
		case *ast.SequenceNode:
			for i, n := range body.Values {
				src := itemSource(lines, body.Values, i)
				if fs, ok := l.peek(n); ok && fs.has("scene") {
					l.scene(n, fs, i)
					continue
				}
				if a := l.automation(n, i); a != nil {
					a.Source = src
					c.autos = append(c.autos, a)
				}
			}
		default:
			l.errorf(body, "a file holds a list of automations (each starting with \"- id: ...\") and scenes (\"- scene: ...\"), got %s", kindOf(body))
		}
	}
}

// parseYAML parses data, turning a panic of the parser on hostile input into
// an error: a bad file must never take the hub down.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// guessAutomation names the automation around a line of a file that does
// not parse: the nearest top-level list item at or above the line, when it
// has an id before that line. It is only a guess, to help read the problem;
// "" when there is none.
func guessAutomation(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	line = min(line, len(lines))
	top := -1 // indentation of the top-level items
	for _, l := range lines {
		if ind, ok := itemIndent(l); ok {
			top = ind
			break
		}
	}
	start := -1
	for i := line - 1; i >= 0 && top >= 0; i-- {
		if ind, ok := itemIndent(lines[i]); ok && ind == top {
			start = i
			break
		}
	}
	if start < 0 {
		return ""
	}
	for i := start; i < line; i++ {
		l := lines[i]
		if i == start {
			l = strings.Replace(l, "-", " ", 1)
		}
		key := strings.TrimLeft(l, " ")
		if len(l)-len(key) != top+2 {
			continue
		}
		if v, ok := strings.CutPrefix(key, "id:"); ok {
			v, _, _ = strings.Cut(v, " #")
			id := strings.Trim(strings.TrimSpace(v), `"'`)
			if validID(id) == nil {
				return id
			}
		}
	}
	return ""
}

// itemIndent reports whether l starts a list item, and at which indentation.
func itemIndent(l string) (int, bool) {
	t := strings.TrimLeft(l, " ")
	if strings.HasPrefix(t, "- ") || t == "-" {
		return len(l) - len(t), true
	}
	return 0, false
}

var automationKeys = []string{"id", "description", "mode", "max", "missed", "triggers", "conditions", "actions"}

// automation reads the i-th automation of a file.
func (l *loader) automation(n ast.Node, i int) *Automation {
	l.auto = fmt.Sprintf("#%d", i+1)
	fs, ok := l.fields(n, "an automation")
	if !ok {
		return nil
	}
	a := &Automation{File: l.file, Mode: ModeSingle, Missed: MissedFire}
	a.Line, a.Column = position(n)

	// The id comes first so that every other problem can name it.
	if f, ok := fs.get("id"); ok {
		if id, ok := l.str(f, "id"); ok {
			if err := validID(id); err != nil {
				l.errorf(f.value, "id %q %v", id, err)
			} else {
				l.auto = id
				a.ID = id
				if first, dup := l.c.ids[id]; dup {
					l.errorf(f.value, "duplicate id %q: also defined at %s:%d:%d", id, first.File, first.Line, first.Column)
				} else {
					l.c.ids[id] = a
				}
			}
		}
	} else {
		l.errorf(n, "missing id (every automation needs a unique id)")
	}
	l.unknown(fs, "automation", automationKeys...)

	if f, ok := fs.get("description"); ok {
		if _, null := f.value.(*ast.NullNode); !null {
			a.Description, _ = l.str(f, "description")
		}
	}
	if f, ok := fs.get("mode"); ok {
		if s, ok := l.str(f, "mode"); ok {
			switch m := Mode(s); m {
			case ModeSingle, ModeRestart, ModeQueued, ModeParallel:
				a.Mode = m
			default:
				l.errorf(f.value, "mode must be one of single, restart, queued, parallel; got %q", s)
			}
		}
	}
	if a.Mode == ModeQueued || a.Mode == ModeParallel {
		a.Max = DefaultMax
	}
	if f, ok := fs.get("max"); ok {
		if n, ok := l.integer(f, "max", 1, 10000); ok {
			if a.Mode == ModeQueued || a.Mode == ModeParallel {
				a.Max = n
			} else {
				l.errorf(f.keyNd, "max applies to queued and parallel modes only (this automation is %s)", a.Mode)
			}
		}
	}

	if f, ok := fs.get("missed"); ok {
		if s, ok := l.str(f, "missed"); ok {
			switch m := Missed(s); m {
			case MissedFire, MissedSkip:
				a.Missed = m
			default:
				l.errorf(f.value, "missed must be fire or skip; got %q", s)
			}
		}
	}

	l.cur = a
	defer func() { l.cur = nil }()
	if f, ok := fs.get("triggers"); ok {
		items, ok := l.list(f, "triggers")
		if ok && len(items) == 0 {
			l.errorf(f.value, "triggers is empty: an automation needs at least one (%s)", strings.Join(triggerKinds, ", "))
		}
		for _, tn := range items {
			if t := l.trigger(a, tn, len(a.triggers)); t != nil {
				a.triggers = append(a.triggers, t)
			}
		}
	} else {
		l.errorf(n, "missing triggers: an automation needs at least one (%s)", strings.Join(triggerKinds, ", "))
	}
	if f, ok := fs.get("conditions"); ok {
		a.conditions = l.conditions(f.value, "conditions")
	}
	if f, ok := fs.get("actions"); ok {
		items, ok := l.list(f, "actions")
		if ok && len(items) == 0 {
			l.errorf(f.value, "actions is empty: an automation needs at least one (%s)", strings.Join(actionKinds, ", "))
		}
		a.actions = l.actions(items)
	} else {
		l.errorf(n, "missing actions: an automation needs at least one (%s)", strings.Join(actionKinds, ", "))
	}
	if a.ID == "" {
		return nil
	}
	a.fp = l.normalised(n)
	return a
}

// validID accepts ids that read well in logs, URLs and run ids ("id#12").
func validID(id string) error {
	if len(id) > 100 {
		return errors.New("is longer than 100 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("may hold only letters, digits, _ and - (found %q)", r)
		}
	}
	if id == "" {
		return errors.New("is empty")
	}
	return nil
}
