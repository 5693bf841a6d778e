/*
 * linkcheck.c — an empty program that meson links with every object of one
 * module and only the modules below it (meson.build). It does nothing at
 * run time; its link is the test that no module calls one above it.
 */
int main(void);

int
main(void)
{
    return 0;
}
