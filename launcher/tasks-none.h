/* A task table with no verbs: the launcher then runs only the server. */
#define LAUNCHER_TASKS(TASK)

/* No build-time VM flags: erlexec gets vm.args only. */
#define LAUNCHER_VM_FLAGS(WORD)
