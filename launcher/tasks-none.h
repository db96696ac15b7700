/* A task table with no verbs: the launcher then runs only the server. */
#define LAUNCHER_TASKS(TASK)
