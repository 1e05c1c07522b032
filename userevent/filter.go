package userevent

import (
	"regexp"

	"consulate/structs"
)

// Matches tells whether an agent named node with the given services keeps
// ev: the node filter must match the node name, and with a service filter
// some service must match it (and, with a tag filter too, one of that
// service's tags must match the tag filter). A filter that is not a valid
// regular expression matches nothing; a tag filter without a service
// filter is ignored, as in Consul.
func Matches(ev *structs.UserEvent, node string, services map[string]*structs.NodeService) bool {
	if ev.NodeFilter != "" {
		re, err := regexp.Compile(ev.NodeFilter)
		if err != nil || !re.MatchString(node) {
			return false
		}
	}
	if ev.ServiceFilter == "" {
		return true
	}
	svcRe, err := regexp.Compile(ev.ServiceFilter)
	if err != nil {
		return false
	}
	var tagRe *regexp.Regexp
	if ev.TagFilter != "" {
		if tagRe, err = regexp.Compile(ev.TagFilter); err != nil {
			return false
		}
	}
	for _, s := range services {
		if !svcRe.MatchString(s.Service) {
			continue
		}
		if tagRe == nil {
			return true
		}
		for _, t := range s.Tags {
			if tagRe.MatchString(t) {
				return true
			}
		}
	}
	return false
}
