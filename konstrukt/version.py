"""konstrukt's version: a module of its own, so that any module can read it without importing the
package facade (whose functions import the whole library)."""
__version__ = "0.1.0"
