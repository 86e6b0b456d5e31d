// Package wiki is a sample wiki that speaks enough of the Confluence Data Center REST API, in
// memory, for hooktap's demo, for the tests of the default rule pack (rules.toml) and as the
// benchmark's realistic upstream.
//
// It is not Confluence. It answers the calls that cause Confluence's 43 webhook events, with
// Confluence's response shapes and status codes where they are known (see
// ../shared/confluence.md section 2.6), and a few reads that the pack's lookups need.
//
// # Usage
//
//	w := wiki.New()
//	ln, _ := net.Listen("tcp", "127.0.0.1:8090")
//	go w.Serve(ln)          // or fasthttp.Server{Handler: w.Handler()}
//	defer w.Shutdown()
//
// New seeds one administrator (admin/admin, in confluence-administrators and
// confluence-users), the group confluence-users, and one space DS ("Demonstration Space")
// with its home page. Every id comes from a counter, so a fixed sequence of requests always
// yields the same ids: spaces count from 1, content (pages, blog posts, comments,
// attachments share Confluence's one sequence) from 1001, labels and permissions from 1.
//
// # Users and the acting user
//
// Every request must carry Basic authorization of an enabled user, else 401 (the seeded
// admin is admin/admin; POST /rest/api/admin/user adds users). Admin endpoints
// (/rest/api/admin/..., space deletion, the global theme) need membership of
// confluence-administrators, else 403.
//
// A user has a user name and a user key; like Confluence's, keys are 32 hex digits and are not
// the user name (admin's is [AdminKey]; created users get ff808081 followed by a counter).
// Every authenticated response carries:
//
//	X-AUSERNAME: admin                              (as Confluence sends it)
//	X-AUSERKEY:  ff808081000000000000000000000001   (sample-wiki extension)
//
// X-AUSERKEY is not sent by Confluence; the sample wiki sends it so that a proxy can learn the
// acting user's key without a lookup. GET /rest/api/user?username= (or ?key=) returns
// {"type":"known","username":...,"userKey":...} as Confluence does, for the target of an
// admin action and for deployments in front of a real Confluence.
//
// # Endpoints
//
// Confluence Data Center, under /rest/api:
//
//	GET    /content?type=&spaceKey=&title=&status=    list
//	POST   /content                                   create page, blogpost, comment (200); status "draft" makes a draft
//	GET    /content/{id}?status=current|trashed|draft|any
//	GET    /content/search?cql=                       CQL subset: field = value [AND ...] over id, type,
//	                                                  space, title, label, parent, ancestor
//	PUT    /content/{id}                              edit (version.number must be current+1, else 409);
//	                                                  new ancestors move a page; status "current" on a
//	                                                  trashed item restores it
//	DELETE /content/{id}                              page, blogpost, attachment: to the trash; comment: gone (204)
//	DELETE /content/{id}?status=trashed               purge a trashed item (204; 404 if not in the trash)
//	GET    /content/{id}/child/{page|comment|attachment}
//	POST   /content/{id}/child/attachment             multipart "file" (+ "comment"); needs X-Atlassian-Token: nocheck
//	POST   /content/{id}/child/attachment/{attId}/data  new version of an attachment
//	DELETE /content/{id}/child/attachment/{attId}     attachment to the trash (204)
//	GET|POST /content/{id}/label                      POST takes [{"prefix":"global","name":"x"}] or one object
//	DELETE /content/{id}/label/{name}, /content/{id}/label?name=   (204)
//	GET|PUT|POST|DELETE /content/{id}/restriction     PUT replaces, POST adds, DELETE clears
//	PUT|DELETE /content/{id}/restriction/byOperation/{read|update}/group/{name}
//	PUT|DELETE /content/{id}/restriction/byOperation/{read|update}/user?userName=
//	POST   /content/blueprint/instance/{draftId}      publish a blueprint draft (200)
//	GET    /label?name=                               the label and its contents; 404 when no object has it
//	GET|POST /space; GET|PUT|DELETE /space/{key}      DELETE answers 202 with a long task (already done)
//	GET|POST /space/{key}/permissions; DELETE /space/{key}/permissions/{id}
//	PUT    /space/{key}/permissions/{user/{userKey}|group/{name}|anonymous}/{grant|revoke}
//	GET|PUT|DELETE /space/{key}/theme                 PUT {"themeKey":...}; DELETE = back to the global theme
//	GET    /settings/theme/selected                   the global theme
//	GET    /user?username=|key=, /user/current
//	POST   /admin/user (201), PUT /admin/user/{name}/disable|enable (204), DELETE /admin/user/{name} (204)
//	GET    /group, /group/{name}; POST /admin/group (201), DELETE /admin/group/{name} (204)
//	GET    /longtask/{id}
//
// Blueprint drafts are made the way Confluence's create dialog makes them:
//
//	POST /rest/create-dialog/1.0/content-blueprint/create-draft
//	     {"spaceKey":"DS","contentBlueprintId":"...","moduleCompleteKey":"...","title":"...","context":{...}}
//
// The draft's blueprint shows in GET /rest/api/content/{id}?status=draft as
// "extensions":{"blueprint":{...}} (a sample-wiki choice; Confluence keeps it elsewhere).
//
// Web-UI form posts for the events Confluence raises only from its UI. Confluence's own UI
// uses XWork actions (*.action) posted with an atl_token; these are modelled on them, the
// exact names are this wiki's:
//
//	POST /pages/children/reorder.action?pageId=N       Space Tools > Reorder pages > "sort
//	     alphabetically": sorts N's children by title; answers 200 JSON
//	     {"pageId":N,"oldSortedChildren":[{"id":..}],"newSortedChildren":[{"id":..}]}
//	POST /spaces/doupdatespacelogo.action?key=K        multipart "file": the space logo; answers
//	     200 JSON {"space":{"id":..,"key":..},"logo":<attachment content>}
//	POST /spaces/doenabletheme.action?key=K            form themeKey=...: a space's theme
//	POST /admin/doenabletheme.action                   form themeKey=...: the site's theme
//	     both answer 200 JSON {"spaceKey":..,"oldThemeKey":..,"newThemeKey":..}
//	POST /users/follow.action?username=U               follow a user (200 {"following":true});
//	POST /users/unfollow.action?username=U             stop following (200 {"following":false})
//
// Confluence Cloud v2, under /wiki/api/v2 (ids as strings, v2 shapes):
//
//	POST /pages, /blogposts; GET|PUT|DELETE /pages/{id}, /blogposts/{id}   DELETE: trash;
//	     DELETE ?purge=true: purge a trashed one; PUT with status "current" on a trashed one: restore
//	POST /footer-comments; GET|PUT|DELETE /footer-comments/{id}            DELETE: gone
//	GET|DELETE /attachments/{id}[?purge=true]
//	GET /spaces/{id}
//
// and the Cloud v1 move, PUT /wiki/rest/api/content/{id}/move/{append|before|after}/{targetId};
// every other /wiki/rest/api/... path is served as /rest/api/....
//
// Content is always answered fully expanded (space, history, version, ancestors, container,
// body.storage, metadata.labels, extensions); expand= is accepted and ignored.
//
// Errors have Confluence's shape: {"statusCode":404,"data":{...},"message":"...","reason":"Not Found"}.
//
// # Cost
//
// Creates and title checks are indexed, so a long benchmark run does not slow the wiki down;
// BenchmarkCreatePage gives the handler's own cost (JSON encoding dominates). State only grows:
// a benchmark that writes for hours holds every page it made.
//
// # Concurrency
//
// A Wiki is safe for concurrent use: one mutex guards all state, held for the whole of each
// request (the wiki is a fixture, not a database). Handler may be served by any number of
// fasthttp servers at once.
package wiki
